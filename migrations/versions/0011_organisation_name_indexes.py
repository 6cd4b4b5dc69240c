"""PostgreSQL: organisation names looked up by an index (lower(name), and the name's words)

`funder:"Department of Energy"` and `organisation:technologies` find the organisations first
(search_index/pg_query.py): by lower(name), else by a full-text match of the name. Both
scanned every organisation, computing each name's tsvector (23 ms of a search at 11k
organisations, twice: once for the facet counts, once for the page). Statements as in
search_index/pg_schema.py's NAME_STATEMENTS at this revision. Nothing on SQLite.

Revision ID: 0011_organisation_name_indexes
Revises: 0010_similarity_vector_visible
Create Date: 2026-12-03 09:45:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_organisation_name_indexes"
down_revision = "0010_similarity_vector_visible"
branch_labels = None
depends_on = None

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS ix_organisation_name_lower ON organisation (lower(name))",
    "CREATE INDEX IF NOT EXISTS ix_organisation_name_search ON organisation "
    "USING gin (to_tsvector('openbids_english', name))",
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_organisation_name_search")
    op.execute("DROP INDEX IF EXISTS ix_organisation_name_lower")
