"""`GET /healthz`: is the database up, the index readable, and derived data keeping up?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from bids.database import db
from search_index import get_index
from search_index.outbox import FOLLOW_UPS, TARGETS, oldest_pending_age

bp = Blueprint("health", __name__)
VISIBLE = tuple(TARGETS)  # the stores readers search and match in


@bp.get("/healthz")
def healthz():
    """200 when serving is sound; 503 when the database is down or the worker lags too far."""
    checks: dict[str, dict] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure of the database means "not healthy"
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return jsonify({"status": "unavailable", "checks": checks}), 503
    try:
        checks["index"] = {"ok": True, "documents": get_index().doc_count()}
    except Exception as exc:  # noqa: BLE001 - reported; search degrades, the site still serves
        checks["index"] = {"ok": False, "error": type(exc).__name__}
    # What readers see lags by the search and similar rows; the pools' clusters and the
    # network map follow those (their own rows, applied a few a round), reported beside.
    lag = oldest_pending_age(db.session, VISIBLE)
    follow_ups = oldest_pending_age(db.session, (FOLLOW_UPS,))
    limit = float(current_app.config["HEALTH_MAX_LAG_S"])
    checks["worker"] = {
        "ok": lag <= limit,
        "lag_seconds": round(lag, 3),
        "follow_ups_lag_seconds": round(follow_ups, 3),
        "max_lag_seconds": limit,
    }
    healthy = checks["worker"]["ok"]
    db.session.rollback()
    body = {"status": "ok" if healthy else "lagging", "checks": checks}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503
