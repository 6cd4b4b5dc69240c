"""Races between concurrent writers, reproduced deterministically: a barrier holds each thread
at the point where it has looked and found nothing, until the other has looked too; then both
write. Runs on the suite's database (a SQLite file, or TEST_DATABASE_URL's PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from bids import organisations
from bids.accounts import create_api_token
from bids.database import db as _db
from bids.imports.organisations import OrganisationCache
from bids.models import Bid, IndexOutbox, Membership, Organisation, OrgKind, User
from bids.pools.models import OverlapCluster
from search_index import clusters as clusters_module
from search_index import outbox

MEET_TIMEOUT_S = 2.0  # a thread the fix keeps waiting never arrives: the other goes on alone

TEXT = (
    "Relational practice network: a map of community connectors, peer learning circles for "
    "neighbourhood workers, and a shared library of stories about kindness between strangers "
    "in small towns across the valleys, with monthly gatherings and a small grants fund."
)


class Meeting:
    """A two-party barrier that gives up after a while instead of failing the test."""

    def __init__(self, parties: int = 2):
        self.barrier = threading.Barrier(parties, timeout=MEET_TIMEOUT_S)
        self.met = 0
        self._lock = threading.Lock()

    def wait(self) -> None:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            return
        with self._lock:
            self.met += 1


def run_threads(app, work, count: int = 2) -> list[BaseException | None]:
    """Run `work(i)` in `count` threads, each inside its own app context (its own session)."""
    errors: list[BaseException | None] = [None] * count

    def run(i: int) -> None:
        with app.app_context():
            try:
                work(i)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors[i] = exc
                _db.session.rollback()
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer thread hung"
    return errors


def api_user(db, org, email: str) -> str:
    user = User(email=email, display_name=email.split("@")[0], password_hash="!")
    db.session.add(user)
    db.session.add(Membership(user=user, organisation=org, role="owner"))
    db.session.commit()
    token = create_api_token(user)[1]
    db.session.commit()
    return token


# --- 1. find-or-create of an organisation ------------------------------------------------


def meet_after_a_miss(monkeypatch, name: str) -> Meeting:
    """Each thread's first call of `organisations.<name>` that finds no organisation waits there
    until the other thread's has found none too."""
    meeting = Meeting()
    seen = threading.local()
    real = getattr(organisations, name)

    def lookup(*args, **kwargs):
        org = real(*args, **kwargs)
        if org is None and not getattr(seen, "done", False):
            seen.done = True
            meeting.wait()
        return org

    monkeypatch.setattr(organisations, name, lookup)
    return meeting


@pytest.fixture
def both_find_nothing(monkeypatch):
    """Each thread's first lookup of an organisation waits until the other's has found nothing."""
    return meet_after_a_miss(monkeypatch, "find_organisation")


def test_two_bids_naming_a_new_funder_at_once_both_get_201_and_one_funder(
    app, db, factory, both_find_nothing
):
    tokens = [api_user(db, factory.org(f"Applicant {i}"), f"w{i}@example.org") for i in range(2)]
    statuses: list[int | None] = [None, None]
    funder_ids: list[int | None] = [None, None]

    def publish(i: int) -> None:
        response = app.test_client().post(
            "/api/v1/bids",
            headers={"Authorization": f"Bearer {tokens[i]}"},
            json={
                "title": f"Bid {i}",
                "summary": "A community project.",
                "status": "submitted",
                "funder": {"name": "Accept Funder"},
                "visibility": "published",
            },
        )
        statuses[i] = response.status_code
        if response.status_code == 201:
            funder_ids[i] = _db.session.scalar(
                select(Bid.funder_id).where(Bid.id == response.get_json()["id"])
            )

    errors = run_threads(app, publish)
    assert both_find_nothing.met == 2  # both looked before either inserted: the race happened
    assert errors == [None, None]
    assert statuses == [201, 201]
    funders = db.session.scalars(select(Organisation).where(Organisation.name == "Accept Funder"))
    [funder] = list(funders)
    assert funder_ids == [funder.id, funder.id]
    assert funder.kind == OrgKind.FUNDER and funder.slug == "accept-funder"


def test_find_or_create_with_an_identifier_races_to_one_organisation(app, db, both_find_nothing):
    found: list[int | None] = [None, None]

    def create(i: int) -> None:
        # Different spellings, one identifier: the identifier says they are the same body.
        org = organisations.find_or_create_organisation(
            ["Valleys Trust", "The Valleys Trust"][i], "GB-CHC-1234567", kind=OrgKind.FUNDER
        )
        _db.session.commit()
        found[i] = org.id

    errors = run_threads(app, create)
    assert both_find_nothing.met == 2
    assert errors == [None, None]
    ids = list(
        db.session.scalars(
            select(Organisation.id).where(Organisation.org_identifier == "GB-CHC-1234567")
        )
    )
    assert len(ids) == 1 and found == [ids[0], ids[0]]


def test_a_slug_taken_meanwhile_by_another_name_gets_the_next_slug(app, db, both_find_nothing):
    """Two names with one slug ("Acme Ltd" and "ACME, Ltd." differ only in case and commas, but
    case-insensitive lookup sees different names): both organisations are created."""
    names = ["Acme Ltd", "Acme, Ltd."]

    def create(i: int) -> None:
        organisations.find_or_create_organisation(names[i])
        _db.session.commit()

    errors = run_threads(app, create)
    assert both_find_nothing.met == 2
    assert errors == [None, None]
    rows = db.session.execute(
        select(Organisation.name, Organisation.slug).order_by(Organisation.slug)
    ).all()
    assert sorted(name for name, _ in rows) == sorted(names)
    assert [slug for _, slug in rows] == ["acme-ltd", "acme-ltd-2"]


def test_a_funder_created_between_ones_lookup_and_ones_insert_is_taken(app, db, monkeypatch):
    """The late writer looked (nothing), then the early one created and committed it; the late
    one must not go on to create a second "Accept Funder" under the next free slug."""
    looked, committed = threading.Event(), threading.Event()
    seen = threading.local()
    real = organisations.find_organisation

    def find(name, identifier=None):
        org = real(name, identifier)
        if getattr(seen, "late", False) and not getattr(seen, "done", False):
            seen.done = True
            looked.set()
            assert committed.wait(MEET_TIMEOUT_S * 5)
        return org

    monkeypatch.setattr(organisations, "find_organisation", find)

    def create(i: int) -> None:
        if i == 0:
            seen.late = True
        else:
            assert looked.wait(MEET_TIMEOUT_S * 5)
        organisations.find_or_create_organisation("Accept Funder", kind=OrgKind.FUNDER)
        _db.session.commit()
        if i == 1:
            committed.set()

    assert run_threads(app, create) == [None, None]
    rows = db.session.execute(select(Organisation.name, Organisation.slug)).all()
    assert rows == [("Accept Funder", "accept-funder")]


def test_the_importer_takes_an_organisation_created_after_its_cache_was_loaded(app, db, factory):
    cache = OrganisationCache(OrgKind.APPLICANT)  # loaded before the other writer commits

    def other_writer(_i: int) -> None:
        organisations.find_or_create_organisation("Accept Funder", kind=OrgKind.FUNDER)
        _db.session.commit()

    assert run_threads(app, other_writer, count=1) == [None]
    funder = {"name": "Accept Funder", "identifier": None}
    applicant = {"name": "New Applicant", "identifier": None}
    cache.prepare([(applicant, OrgKind.APPLICANT), (funder, OrgKind.FUNDER)])
    db.session.commit()
    existing = db.session.scalar(select(Organisation).where(Organisation.name == "Accept Funder"))
    assert cache.resolve(funder) == existing.id
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 2
    assert db.session.get(Organisation, cache.resolve(applicant)).name == "New Applicant"


@pytest.fixture
def both_see_the_name_free(monkeypatch):
    """Each founder's check for an organisation under the name waits until the other's has
    found none too."""
    return meet_after_a_miss(monkeypatch, "listed_under_name")


@pytest.mark.parametrize(
    ("names", "identifier", "field"),
    [
        (["Harbour Arts Trust", "Harbour Arts Trust"], None, "name"),
        (["Valleys Trust", "The Valleys Trust"], "GB-CHC-7654321", "identifier"),
    ],
    ids=["same-name", "same-identifier"],
)
def test_two_founders_creating_one_organisation_at_once_one_is_refused_clearly(
    app, db, factory, both_see_the_name_free, names, identifier, field
):
    """Two people fill in "New organisation" for the same body at once: one becomes its owner,
    the other is told it is listed (a 400 in the form), never an IntegrityError (a 500)."""
    founders = [factory.user(f"founder{i}@example.org").id for i in range(2)]
    data = [{"name": names[i], "kind": "applicant", "identifier": identifier} for i in range(2)]

    def create(i: int) -> None:
        organisations.create_organisation(_db.session.get(User, founders[i]), data[i])
        _db.session.commit()

    errors = run_threads(app, create)
    assert both_see_the_name_free.met == 2
    refused = [e for e in errors if e is not None]
    assert len(refused) == 1, errors
    assert isinstance(refused[0], organisations.ValidationError)
    assert field in refused[0].errors
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 1


# --- 2. the clusters' neighbourhood refresh ----------------------------------------------


@pytest.fixture
def app_config():
    # Clusters are refreshed by the test's own threads, not by the commits that publish.
    return {"OVERLAP_AUTO_REFRESH": False}


def overlapping_pair(factory):
    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    second = factory.bid(
        factory.org("Hill Towns Network"), title="Relational network, hills", body=TEXT
    )
    return first, second


def cluster_rows(db) -> list[tuple[int, str]]:
    db.session.expire_all()
    return [
        (c.id, c.signature)
        for c in db.session.scalars(select(OverlapCluster).order_by(OverlapCluster.id))
    ]


def assert_clusters_as_from_scratch(db) -> None:
    """A full refresh over the same data finds nothing to change."""
    before = cluster_rows(db)
    report = clusters_module.refresh_clusters()
    db.session.commit()
    assert (report.created, report.changed, report.removed) == (0, 0, 0), report
    assert cluster_rows(db) == before


@pytest.fixture
def both_build_first(monkeypatch):
    """Each thread's refresh waits, just before it writes a new cluster, for the other's."""
    meeting = Meeting()

    def before_flush(session, _context, _instances):
        if any(isinstance(obj, OverlapCluster) for obj in session.new):
            meeting.wait()

    event.listen(Session, "before_flush", before_flush)
    yield meeting
    event.remove(Session, "before_flush", before_flush)


def test_neighbouring_refreshes_at_once_make_one_cluster(app, db, factory, both_build_first):
    first, second = overlapping_pair(factory)
    assert cluster_rows(db) == []

    def refresh(i: int) -> None:
        clusters_module.refresh_neighbourhood([first.id, second.id][i], session=_db.session)
        _db.session.commit()

    errors = run_threads(app, refresh)
    assert errors == [None, None]
    # One of them waited for the other before reading anything; so they never met.
    assert both_build_first.met == 0
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]
    assert_clusters_as_from_scratch(db)


def test_a_neighbourhood_refresh_beside_a_full_refresh_agree(app, db, factory, both_build_first):
    first, second = overlapping_pair(factory)

    def refresh(i: int) -> None:
        if i == 0:
            clusters_module.refresh_neighbourhood(second.id, session=_db.session)
        else:
            clusters_module.refresh_clusters()
        _db.session.commit()

    assert run_threads(app, refresh) == [None, None]
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]


# --- a follower that fails is retried ----------------------------------------------------


@pytest.fixture
def follow_clusters(app):
    app.config["OVERLAP_AUTO_REFRESH"] = True


def test_a_follow_up_that_fails_once_is_retried(app, db, factory, follow_clusters, monkeypatch):
    """Follow-ups are outbox rows of their own: a failure backs the row off, like any other."""
    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    real = clusters_module.refresh_neighbourhood
    failures = []

    def flaky(bid_id, **kwargs):
        if not failures:
            failures.append(bid_id)
            raise RuntimeError("UNIQUE constraint failed: overlap_cluster.id")
        return real(bid_id, **kwargs)

    monkeypatch.setattr(clusters_module, "refresh_neighbourhood", flaky)
    second = factory.bid(
        factory.org("Hill Towns Network"), title="Relational network, hills", body=TEXT
    )  # its commit drains "similar", then its follow-up, which fails once
    assert failures == [second.id]
    assert outbox.pending_count("similar") == 0  # matchable at once all the same
    assert outbox.pending_count(outbox.FOLLOW_UPS) == 1
    assert outbox.sync(outbox.FOLLOW_UPS) == {outbox.FOLLOW_UPS: 1}
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]
    assert_clusters_as_from_scratch(db)


def test_a_follow_up_that_keeps_failing_waits_without_holding_up_similar(
    app, db, factory, follow_clusters, monkeypatch
):
    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    real = clusters_module.refresh_neighbourhood
    broken = [True]

    def down(bid_id, **kwargs):
        if broken[0]:
            raise RuntimeError("database is locked")
        return real(bid_id, **kwargs)

    monkeypatch.setattr(clusters_module, "refresh_neighbourhood", down)
    second = factory.bid(
        factory.org("Hill Towns Network"), title="Relational network, hills", body=TEXT
    )
    assert cluster_rows(db) == []
    assert outbox.pending_count("similar") == 0
    rows = db.session.execute(
        select(
            IndexOutbox.bid_id, IndexOutbox.action, IndexOutbox.attempts, IndexOutbox.last_error
        ).where(IndexOutbox.target == outbox.FOLLOW_UPS)
    ).all()
    assert [(r.bid_id, r.action) for r in rows] == [(second.id, "upsert")]
    assert rows[0].attempts == 1 and "locked" in rows[0].last_error

    broken[0] = False
    assert outbox.sync(outbox.FOLLOW_UPS) == {outbox.FOLLOW_UPS: 1}
    assert outbox.pending_count() == 0
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]


def _clusters_lock_is_free() -> bool:
    """Whether another connection could take the clusters' lock now (on SQLite the database's
    write lock, which every web write needs)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    with _db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            key = clusters_module.CLUSTERS_LOCK
            free = conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
            conn.rollback()
            return bool(free)
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError:
            return False
        conn.exec_driver_sql("ROLLBACK")
        return True


def test_the_follower_finds_the_pairs_before_it_locks_the_clusters(
    app, db, factory, follow_clusters, monkeypatch
):
    """Finding the pairs is the follower's slow part; it took the clusters' lock first, and
    on SQLite every web write waited for it (publish p50 1.3 s in the load test)."""
    from search_index import similarity

    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    free_while_finding: list[bool] = []
    for name in ("pairs_for", "pairs_for_many"):
        real = getattr(similarity, name)

        def watched(*args, real=real, **kwargs):
            free_while_finding.append(_clusters_lock_is_free())
            return real(*args, **kwargs)

        monkeypatch.setattr(similarity, name, watched)
    second = factory.bid(
        factory.org("Hill Towns Network"), title="Relational network, hills", body=TEXT
    )  # its commit drains "similar", and the follower redoes the clusters around it
    assert free_while_finding and all(free_while_finding)
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]
    assert_clusters_as_from_scratch(db)


def test_pairs_found_before_the_lock_are_found_again_if_the_store_changed_meanwhile(
    app, db, factory, follow_clusters, monkeypatch
):
    """Another process's similarity change between the follower's pairs and its lock: the
    follower redid the clusters from pairs that lacked it (under concurrent writers on
    PostgreSQL, a cluster the full refresh then changed). It finds them again, locked."""
    import itertools

    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    changes = itertools.count()
    monkeypatch.setattr(clusters_module, "_store_state", lambda: ("generation", next(changes)))
    kept: list[int] = []
    real = clusters_module.refresh_neighbourhood

    def watched(bid_id, neighbours=None, session=None):
        kept.append(len(neighbours.found))  # pairs it already holds
        return real(bid_id, neighbours=neighbours, session=session)

    monkeypatch.setattr(clusters_module, "refresh_neighbourhood", watched)
    second = factory.bid(
        factory.org("Hill Towns Network"), title="Relational network, hills", body=TEXT
    )
    assert kept == [0]  # none of the pairs found before the store changed
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]
    assert_clusters_as_from_scratch(db)


def test_a_neighbourhood_refresh_names_the_key_terms_the_full_refresh_does(app, db, factory):
    """It reads the engine's pairs with their shared terms (it used to drop them, then fell
    back to counting words, and a full refresh changed every cluster it had made)."""
    first, second = overlapping_pair(factory)
    clusters_module.refresh_neighbourhood(second.id)
    db.session.commit()
    assert cluster_rows(db) == [(first.id, f"{first.id},{second.id}")]
    assert_clusters_as_from_scratch(db)
