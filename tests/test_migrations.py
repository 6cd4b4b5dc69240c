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
from tests.conftest import make_config


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
