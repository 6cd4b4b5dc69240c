"""Shared fixtures: `app`, `client`, `db`, `runner`, factories and the browser's live server."""

from __future__ import annotations

import contextvars
import os
import shutil
import threading
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from werkzeug.serving import make_server

from bids.database import db as _db
from bids.models import Membership, Organisation, OrgKind, Role, User
from bids.publishing import hide_bid
from portal import create_app

# ../shared/data next to the checkout; OPENBIDS_SHARED_DATA points elsewhere (a git worktree).
SHARED_DATA = Path(
    os.environ.get("OPENBIDS_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The suite's run against PostgreSQL (`make test-postgres`); the URL's scheme is set before
# pytest-xdist renames its database per worker.
ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs a worker per core) each worker gets its own
    PostgreSQL database, `<TEST_DATABASE_URL's name>_gw0` and so on, made empty here. The
    environment variable is rewritten so subprocesses and module-level checks see it too."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url.startswith("postgresql") or not worker:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["TEST_DATABASE_URL"] = base.set(database=name).render_as_string(hide_password=False)


def vacuum_count(table: str) -> int:
    """How often PostgreSQL has vacuumed `table` by hand (not autovacuum), from its statistics."""
    from sqlalchemy import text

    from bids.database import db

    with db.engine.connect() as conn:
        count = conn.execute(
            text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar_one()
    return int(count)


def make_config(tmp_path: Path, **overrides) -> dict:
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.sqlite3'}"
    config = {
        "ENV_NAME": "test",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "SEARCH_INDEX_DIR": str(tmp_path / "search-index"),
        "SIMILARITY_DIR": str(tmp_path / "similarity"),
        # Reading a real PDF must not race the clock on a loaded machine; the tests of the
        # limit itself set a small one and check its effect.
        "PDF_EXTRACT_TIMEOUT_S": 120,
    }
    config.update(overrides)
    return config


@pytest.fixture
def app_config(tmp_path):
    """Override in a test module to change settings, e.g. to enable CSRF or rate limits."""
    return {}


class _Schema:
    """Each test starts on an empty database with the models' schema, made cheaply: on
    PostgreSQL the tables are created once per test process and emptied around every test
    (0.03 s against 0.4 s for creating and dropping them), on SQLite a file made once per
    process is copied. A `drop_all` anywhere (migration tests, module fixtures) marks the
    tables gone, so the next test creates them again."""

    def __init__(self):
        self.ready = False
        self.template: Path | None = None

    def dropped(self, *_args, **_kwargs):
        self.ready = False

    def empty(self, engine) -> None:
        """Delete every row and restart the id sequences (PostgreSQL)."""
        with engine.begin() as conn:
            sequences = conn.exec_driver_sql(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = current_schema()"
            ).scalars()
            statements = [f'DELETE FROM "{t.name}"' for t in reversed(_db.metadata.sorted_tables)]
            statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
            conn.exec_driver_sql("; ".join(statements))

    def prepare(self) -> None:
        """In an app's context: its database empty, with every table."""
        engine = _db.engine
        if engine.dialect.name == "postgresql":
            if self.ready:
                try:
                    self.empty(engine)
                    return
                except Exception:  # noqa: BLE001 - a table went missing: make them again
                    pass
            _db.drop_all()
            _db.create_all()
            self.ready = True
            return
        path = engine.url.database
        if engine.dialect.name != "sqlite" or not path or path == ":memory:":
            _db.create_all()
            return
        if self.template is None:
            _db.create_all()
            engine.dispose()  # checkpoints the WAL into the file
            # beside the test's own folder, in this process's pytest temporary folder
            self.template = Path(path).parent.parent / f"schema-{os.getpid()}.sqlite3"
            shutil.copyfile(path, self.template)
            return
        engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.template, path)

    def finish(self) -> None:
        engine = _db.engine
        if engine.dialect.name == "postgresql" and self.ready:
            try:
                self.empty(engine)
            except Exception:  # noqa: BLE001 - the next test makes the tables again
                self.ready = False
        elif engine.dialect.name != "sqlite":
            _db.drop_all()
        engine.dispose()


_schema = _Schema()
event.listen(_db.metadata, "after_drop", _schema.dropped)


@pytest.fixture
def app(tmp_path, app_config):
    app = create_app(make_config(tmp_path, **app_config))
    with app.app_context():
        _schema.prepare()
        yield app
        _db.session.remove()
        _schema.finish()


@pytest.fixture
def db(app):
    return _db


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, so it gets its own app context, `g` and database
    session, as in production, instead of sharing the test's (which can hide bugs). Responses
    are buffered so streamed bodies are produced inside that context."""

    def open(self, *args, **kwargs):
        kwargs.pop("buffered", None)
        parent = super()

        def request():
            response = parent.open(*args, buffered=False, **kwargs)
            response.was_streamed = response.is_streamed
            response.get_data()
            return response

        return contextvars.Context().run(request)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"The shared data folder is missing: expected it at {SHARED_DATA}")
    return SHARED_DATA


class Factory:
    """Small builders for the objects most tests need."""

    def __init__(self, db):
        self.db = db
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def user(
        self,
        email: str | None = None,
        name: str = "Test User",
        *,
        admin: bool = False,
        org: Organisation | None = None,
        role: str = Role.OWNER,
    ) -> User:
        user = User(
            email=(email or f"user{self._next()}@example.org").lower(),
            display_name=name,
            is_admin=admin,
        )
        user.set_password(PASSWORD)
        self.db.session.add(user)
        if org is not None:
            self.db.session.add(Membership(user=user, organisation=org, role=role))
        self.db.session.commit()
        return user

    def org(self, name: str | None = None, kind: str = OrgKind.APPLICANT, **fields) -> Organisation:
        from bids.organisations import unique_slug

        name = name or f"Organisation {self._next()}"
        org = Organisation(
            name=name, slug=unique_slug(name), kind=kind, regions=[], description="", **fields
        )
        self.db.session.add(org)
        self.db.session.commit()
        return org

    def bid(self, org: Organisation, *, published: bool = True, **fields):
        from bids.publishing import create_bid

        data = {
            "title": f"Bid {self._next()}",
            "summary": "A community project.",
            "body": "We will bring neighbours together.",
            "funder": {"name": "National Lottery Community Fund"},
            "amount_requested": "10000",
            "visibility": "published" if published else "draft",
        }
        data.update(fields)
        bid = create_bid(None, org, data, check_membership=False)
        self.db.session.commit()
        return bid


@pytest.fixture
def factory(db) -> Factory:
    return Factory(db)


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = PASSWORD):
        return self.client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


# --- Browser tests -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive Debian's chromium; Playwright's own browser download is not possible here."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package.")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(pytestconfig):
    """Replaces pytest-playwright's fallback `base_url`, a fixture defined as an instance method,
    which pytest 9 warns about (an error here); the live server gives each test its own URL."""
    return pytestconfig.getoption("--base-url", default=None) or None


@pytest.fixture
def fast_passwords(monkeypatch):
    """Opt-in: cheap password hashing for tests that create many users (scrypt costs ~0.1-0.5 s
    a hash). Hashes stay real and verifiable; one test per area should keep the default."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(
        "bids.models.generate_password_hash",
        partial(generate_password_hash, method="pbkdf2:sha256:1000"),
    )


@pytest.fixture
def corpus(db, factory):
    """The search tests' corpus (test_overlaps_web has its own).

    A small, varied set of bids: two funders, themes, locations, amounts, a draft and a hidden bid.
    """
    green = factory.org("Green Streets Trust")
    other = factory.org("Harbour Arts")
    bids = {
        "garden": factory.bid(
            green,
            title="Community garden for Leith",
            body="Raised beds and a community garden shed for older neighbours.",
            themes=["Environment", "Older people"],
            locations=["Edinburgh"],
            amount_requested="8000",
            submitted_on="2022-03-01",
            status="submitted",
        ),
        "orchard": factory.bid(
            green,
            title="Orchard restoration",
            body="Restoring an old orchard with school volunteers; garden skills.",
            themes=["Environment"],
            locations=["Cardiff"],
            amount_requested="45000",
            submitted_on="2021-05-01",
            funder={"name": "Esmée Fairbairn Foundation"},
        ),
        "theatre": factory.bid(
            other,
            title="Harbour theatre nights",
            body="Free theatre on the harbour for families <script>x</script>.",
            themes=["Arts"],
            locations=["Cardiff"],
            amount_requested="120000",
            submitted_on="2023-01-10",
            status="awarded",
        ),
        "draft": factory.bid(
            green, title="Secret garden draft", body="Not yet public garden plan.", published=False
        ),
        "hidden": factory.bid(other, title="Hidden garden", body="Moderated garden text."),
    }
    admin = factory.user("admin@example.org", admin=True)
    hide_bid(admin, bids["hidden"], "spam")
    db.session.commit()
    return {"bids": bids, "admin": admin, "green": green, "other": other}
