"""Faults held: a locked or restarted database, a web worker killed mid-write, write floods.

In each, no acknowledged write is lost, the site answers with a clear status (never a 500),
and derived data converges afterwards without a human.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bids.accounts import create_api_token
from bids.models import Bid, Membership, User
from search_index import get_index, outbox
from search_index.worker import run_worker
from tests.conftest import ON_POSTGRES, make_config


def token_for(db, org) -> str:
    user = User(email=f"writer{org.id}@example.org", display_name="Writer", password_hash="!")
    db.session.add(user)
    db.session.add(Membership(user=user, organisation=org, role="owner"))
    db.session.commit()
    token = create_api_token(user)[1]
    db.session.commit()
    return token


def publish(client, token: str, title: str):
    return client.post(
        "/api/v1/bids",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": title,
            "summary": "Neighbours share tools.",
            "visibility": "published",
            "funder": {"name": "Valley Fund"},
        },
    )


def bid_count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Bid.id)))


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's file lock; PostgreSQL has its own test below")
class TestSQLiteLocked:
    @pytest.fixture
    def app_config(self):
        # Wait little for the lock, so the test does not sit out the 15 s default.
        return {"SQLITE_BUSY_TIMEOUT_S": 0.2}

    def test_a_write_while_the_database_is_locked_is_a_503_and_changes_nothing(
        self, app, client, db, factory
    ):
        token = token_for(db, factory.org("Valley Makers"))
        before = bid_count(db)
        path = db.engine.url.database
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        try:
            refused = publish(client, token, "While locked")
            assert refused.status_code == 503
            assert refused.get_json()["error"]["code"] == "unavailable"
            assert int(refused.headers["Retry-After"]) > 0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert bid_count(db) == before
        accepted = publish(client, token, "After the lock")
        assert accepted.status_code == 201
        assert accepted.get_json()["id"] in get_index().stored()

    def test_a_long_read_does_not_block_writes(self, app, client, db, factory):
        """WAL: a reader inside a transaction (a slow export, a backup) holds no lock that
        a writer waits for; in SQLite's rollback journal this write was a 503."""
        token = token_for(db, factory.org("Valley Makers"))
        conn = db.engine.raw_connection()
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 200
        finally:
            conn.close()
        reader = sqlite3.connect(db.engine.url.database, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM bid").fetchone()  # holds its snapshot
        try:
            accepted = publish(client, token, "Beside a long read")
            assert accepted.status_code == 201, accepted.get_json()
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        assert accepted.get_json()["id"] in get_index().stored()


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_after_postgresql_drops_every_connection_the_next_requests_succeed(
    app, client, db, factory
):
    """What a server restart does to the app: every pooled connection dies at once."""
    token = token_for(db, factory.org("Harbour Makers"))
    assert publish(client, token, "Before the restart").status_code == 201
    with db.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    db.session.remove()
    statuses = [publish(client, token, f"After the restart {n}").status_code for n in range(3)]
    assert 500 not in statuses
    assert statuses[-1] == 201  # the pool reconnects (pool_pre_ping)
    assert client.get("/healthz").status_code == 200


def _serve_until_killed(config: dict, port_file: str, reached_file: str) -> None:
    from werkzeug.serving import make_server

    import bids.publishing
    from portal import create_app

    app = create_app(config)
    real = bids.publishing.create_bid

    def create_bid_then_hang(*args, **kwargs):
        bid = real(*args, **kwargs)
        from bids.database import db

        db.session.flush()  # the row is written in the open transaction ...
        Path(reached_file).write_text("flushed")
        time.sleep(600)  # ... and the worker dies before it commits
        return bid

    bids.publishing.create_bid = create_bid_then_hang
    import portal.api.routes as routes

    if hasattr(routes, "create_bid"):
        routes.create_bid = create_bid_then_hang
    server = make_server("127.0.0.1", 0, app, threaded=True)
    Path(port_file).write_text(str(server.server_port))
    server.serve_forever()


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)


def test_kill_9_of_a_web_worker_mid_write_leaves_no_trace_and_loses_nothing(
    app, client, db, factory, tmp_path
):
    org = factory.org("Moor Makers")
    token = token_for(db, org)
    kept = publish(client, token, "Acknowledged before")
    assert kept.status_code == 201
    before = bid_count(db)
    port_file, reached = tmp_path / "port", tmp_path / "reached"
    child = multiprocessing.get_context("fork").Process(
        target=_serve_until_killed, args=(make_config(tmp_path), str(port_file), str(reached))
    )
    child.start()
    _wait_for(port_file)
    outcome: dict = {}

    def send():
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_file.read_text()}/api/v1/bids",
            method="POST",
            data=b'{"title": "Never acknowledged", "summary": "s", "visibility": "published"}',
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                outcome["status"] = response.status
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    _wait_for(reached)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    sender.join(30)
    assert "status" not in outcome  # the client was never told it succeeded ...
    assert bid_count(db) == before  # ... and nothing of the write remains
    assert db.session.scalar(select(Bid.id).where(Bid.title == "Acknowledged before"))
    run_worker(once=True, jobs=False)
    assert outbox.pending_count() == 0
    assert publish(client, token, "After the crash").status_code == 201  # the lock is free


class TestWriteFlood:
    @pytest.fixture
    def app_config(self):
        # An hour's window, so the count does not depend on how fast this machine is.
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_API_TOKEN": "20 per hour"}

    def test_a_client_sending_100_writes_a_second_gets_429s_with_retry_after_never_500s(
        self, client, db, factory
    ):
        token = token_for(db, factory.org("Flood Makers"))
        responses = [publish(client, token, f"Flood {n}") for n in range(100)]
        statuses = [r.status_code for r in responses]
        assert 500 not in statuses
        assert statuses == [201] * 20 + [429] * 80
        assert all(int(r.headers["Retry-After"]) >= 0 for r in responses if r.status_code == 429)
        assert bid_count(db) == statuses.count(201)


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_postgresql_connections_have_jit_off_and_keep_it(app, db):
    """Every pooled connection, also after a rollback (a SET in an aborted transaction is
    undone, so the setting is committed when the connection opens)."""
    db.engine.dispose()
    for _ in range(2):
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar() == "off"
            conn.rollback()
