"""The SQLAlchemy handle shared by the domain and the web layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, Table, event
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic migrations are deterministic on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        # Every model here maps one table (SQLAlchemy types it as any FromClause).
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)

# The models' base class: `db.Model` at run time; mypy cannot see through Flask-SQLAlchemy's
# dynamically built class, so it checks the models against the declarative base it derives from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


def utcnow() -> datetime:
    """Timezone-aware UTC now; stored as naive UTC so SQLite and PostgreSQL agree."""
    return datetime.now(UTC).replace(tzinfo=None)


def dialect_insert(session, entity):
    """An INSERT of `entity` that can say ON CONFLICT (SQLite's or PostgreSQL's own form)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(entity)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(entity)


def tune_postgresql(engine: Engine, jit: bool) -> None:
    """On PostgreSQL, every new connection has JIT compilation off unless `jit`: the site's
    queries are short (a search, a page, a facet count), and JIT compiling one whose estimate
    passes `jit_above_cost` added ~25 ms to a 42k-bid facet count that runs in 50 (PostgreSQL's
    documentation: JIT pays off for long CPU-bound analytical queries). Nothing on SQLite."""
    if engine.dialect.name != "postgresql" or jit:
        return

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection, _connection_record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET jit = off")
        finally:
            cursor.close()
        dbapi_connection.commit()  # a SET in a transaction rolled back would be undone


def tune_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """On SQLite, every new connection journals in WAL mode (readers and the one writer no
    longer block each other: without it a busy site's writers starve behind its readers and
    time out) and waits up to `busy_timeout_s` for another writer. Nothing on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return
    timeout_ms = max(0, int(busy_timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _connection_record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")  # an in-memory database keeps "memory"
        finally:
            cursor.close()


def vacuum_analyze(engine: Engine, *tables: str) -> None:
    """After rewriting most of a table in bulk (a rebuild): on PostgreSQL, `VACUUM (ANALYZE)`
    it, so its dead row versions are reclaimed and the planner's statistics describe the new
    rows. Until autovacuum gets there, scans read every dead version beside the live one and
    the plans rest on the old statistics. Its own autocommit connection: VACUUM cannot run in
    a transaction. Nothing on SQLite (it rewrites pages in place)."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            quoted = engine.dialect.identifier_preparer.quote(table)
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {quoted}")
