"""Production plumbing: request ids, JSON logs, trusted proxies, rate-limit headers, /healthz."""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bids.database import utcnow
from bids.models import IndexOutbox
from portal import create_app
from portal.ops.logs import json_handler
from search_index.outbox import FOLLOW_UPS
from tests.conftest import make_config


def test_every_response_has_a_request_id_and_a_sane_one_is_kept(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first and second and first != second
    kept = client.get("/healthz", headers={"X-Request-ID": "proxy-id-12345"})
    assert kept.headers["X-Request-ID"] == "proxy-id-12345"
    forged = client.get("/healthz", headers={"X-Request-ID": "x INFO fake=line"})
    assert forged.headers["X-Request-ID"] != "x INFO fake=line"
    assert " " not in forged.headers["X-Request-ID"]


def test_json_log_lines_carry_the_request_id(app):
    stream = io.StringIO()
    handler = json_handler(stream)
    logger = logging.getLogger("openbids.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with app.test_request_context("/", headers={"X-Request-ID": "abcdef123456"}):
            logger.info("hello %s", "there")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "hello there"
    assert inside["request_id"] == "abcdef123456"
    assert inside["level"] == "INFO" and inside["logger"] == "openbids.test"
    assert outside["request_id"] == "-"


@pytest.fixture
def limited_app(tmp_path):
    from bids.database import db

    built = []

    def build(**overrides):
        config = make_config(
            tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_API_ANON="2 per minute", **overrides
        )
        app = create_app(config)
        with app.app_context():
            db.create_all()
        built.append(app)
        return app

    yield build
    for app in built:  # close their pools: a PostgreSQL connection left to the GC warns
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _statuses(client, n, **headers):
    return [client.get("/api/v1/bids", headers=headers).status_code for _ in range(n)]


def test_429_carries_retry_after_and_ratelimit_headers(limited_app):
    client = limited_app().test_client()
    assert _statuses(client, 2) == [200, 200]
    refused = client.get("/api/v1/bids")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Limit"] == "2"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.get_json()["error"]["code"] == "rate_limited"


def test_without_trusted_proxies_every_forwarded_caller_shares_one_bucket(limited_app):
    client = limited_app(PROXY_HOPS=0).test_client()
    assert _statuses(client, 2, **{"X-Forwarded-For": "203.0.113.1"}) == [200, 200]
    assert _statuses(client, 1, **{"X-Forwarded-For": "203.0.113.2"}) == [429]


def test_behind_a_trusted_proxy_each_caller_has_its_own_bucket(limited_app):
    client = limited_app(PROXY_HOPS=1).test_client()
    assert _statuses(client, 3, **{"X-Forwarded-For": "203.0.113.1"}) == [200, 200, 429]
    assert _statuses(client, 2, **{"X-Forwarded-For": "203.0.113.2"}) == [200, 200]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: `make test` installs Debian's redis-server")
    port = _free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_rate_limits_are_shared_between_processes_through_redis(limited_app, redis_url):
    # Two app instances stand for two gunicorn workers: the second sees the first's requests.
    one = limited_app(RATELIMIT_STORAGE_URI=redis_url).test_client()
    two = limited_app(RATELIMIT_STORAGE_URI=redis_url).test_client()
    assert _statuses(one, 2) == [200, 200]
    refused = two.get("/api/v1/bids")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_healthz_reports_database_index_and_worker_lag(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["index"]["ok"] is True
    assert body["checks"]["worker"]["lag_seconds"] == 0


def _pending_for_five_minutes(db, target: str) -> None:
    db.session.add(
        IndexOutbox(
            target=target,
            bid_id=1,
            action="upsert",
            created_at=utcnow() - timedelta(minutes=5),
            attempts=0,
        )
    )
    db.session.commit()


def test_healthz_is_503_when_the_worker_lags_past_the_threshold(app, client, db):
    app.config["HEALTH_MAX_LAG_S"] = 60
    _pending_for_five_minutes(db, "search")
    response = client.get("/healthz")
    assert response.status_code == 503
    worker = response.get_json()["checks"]["worker"]
    assert worker["ok"] is False and worker["lag_seconds"] >= 299


def test_healthz_reports_the_follow_ups_lag_beside_what_readers_see(app, client, db):
    """The pools' clusters and the network map follow search and similar, a few a round; they
    are reported, but what readers see (search, similar) decides the status."""
    app.config["HEALTH_MAX_LAG_S"] = 60
    _pending_for_five_minutes(db, FOLLOW_UPS)
    response = client.get("/healthz")
    assert response.status_code == 200
    worker = response.get_json()["checks"]["worker"]
    assert worker["lag_seconds"] == 0 and worker["follow_ups_lag_seconds"] >= 299


def test_healthz_is_503_when_the_database_is_down(app, client, db, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}


def test_a_gunicorn_worker_freezes_what_loading_the_app_made():
    import gc
    import runpy
    from pathlib import Path

    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    try:
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > 0  # the modules and the app: out of full collections
    finally:
        gc.unfreeze()
