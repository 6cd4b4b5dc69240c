"""The domain: organisations, bids, publishing and the funders' pool (no HTTP, no index)."""

from __future__ import annotations

from typing import Any


def init_app(app: Any) -> None:
    """Register every model with SQLAlchemy and the domain's session listeners.

    The listeners (outbox rows written with each flush, attachment files deleted after
    commit) are process-wide and registered once, however many apps are created. A SQLite
    engine is set to WAL with the configured busy timeout (`SQLITE_BUSY_TIMEOUT_S`); a
    PostgreSQL engine's connections have JIT off unless `POSTGRES_JIT`.
    """
    from bids import attachments, models, outbox  # noqa: F401
    from bids.database import db, tune_postgresql, tune_sqlite
    from bids.pools import models as pool_models  # noqa: F401

    attachments.listen()
    outbox.listen()
    with app.app_context():
        for engine in db.engines.values():
            tune_sqlite(engine, float(app.config.get("SQLITE_BUSY_TIMEOUT_S", 15)))
            tune_postgresql(engine, bool(app.config.get("POSTGRES_JIT", False)))
