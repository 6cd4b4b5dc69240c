"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from bids.database import db as _db
from portal import create_app
from search_index.pg_schema import PG_ONLY_NAMES
from tests.conftest import ON_POSTGRES, make_config


@pytest.fixture
def bare_app(tmp_path):
    """An app whose database has no tables: only migrations may create them."""
    app = create_app(make_config(tmp_path))
    with app.app_context():
        _db.drop_all()
        yield app
        _db.session.remove()
        _db.drop_all()
        with _db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        _db.engine.dispose()


def test_upgrade_creates_the_models_schema_without_drift(bare_app):
    upgrade()
    with _db.engine.connect() as conn:
        # PostgreSQL's search vector and its index are kept by triggers, not by the models.
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: name not in PG_ONLY_NAMES,
            },
        )
        diff = compare_metadata(context, _db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_downgrade_to_base_removes_every_table(bare_app):
    upgrade()
    downgrade(revision="base")
    tables = set(inspect(_db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()


def _pg_only_indexes(conn) -> dict[str, str]:
    """Name -> definition (its storage options included) of the indexes only PostgreSQL has."""
    rows = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    return {name: definition for name, definition in rows if name in PG_ONLY_NAMES}


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's own indexes (TEST_DATABASE_URL)")
def test_postgresql_only_indexes_come_from_the_migrations_as_from_create_all(bare_app):
    """A deployed database (migrations) and a new one (create_all) get the same indexes
    that only PostgreSQL has: the search vector's and the organisation names' lookups."""
    upgrade()
    with _db.engine.connect() as conn:
        migrated = _pg_only_indexes(conn)
    migrated_storage = _vector_storage()
    downgrade(revision="base")
    _db.create_all()
    with _db.engine.connect() as conn:
        created = _pg_only_indexes(conn)
    assert set(migrated) == PG_ONLY_NAMES - {"search_vector"}
    assert migrated == created
    assert migrated_storage == _vector_storage() == "m"  # in the row (VECTOR_STORAGE MAIN)


def _vector_storage() -> str:
    with _db.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'bid'::regclass AND attname = 'search_vector'"
        ).scalar_one()
