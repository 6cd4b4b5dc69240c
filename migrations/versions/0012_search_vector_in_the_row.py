"""PostgreSQL search: each bid's search vector kept in its row

`bid.search_vector` is stored MAIN (in the row, compressed if need be; the body text goes out
of line first). Stored EXTENDED, as PostgreSQL chose for most rows (a 1.5 kB vector beside a
1.5 kB abstract), every match of a search cost a TOAST lookup to rank it: ranking the 24,803
bids holding "system" at 42k took 257-341 ms, 70-76 ms in the row. The rows already stored
are rewritten by `VACUUM FULL bid`, which stores each value the new way and rebuilds the
table's indexes (6.7 s at 42k; it locks the table while it runs, as this upgrade does anyway).

As search_index/pg_schema.py's VECTOR_STORAGE at this revision. Nothing on SQLite.

Revision ID: 0012_search_vector_in_the_row
Revises: 0011_postgres_search_indexes
Create Date: 2026-12-03 19:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_search_vector_in_the_row"
down_revision = "0011_postgres_search_indexes"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE bid ALTER COLUMN search_vector SET STORAGE MAIN")
    with op.get_context().autocommit_block():  # VACUUM cannot run in a transaction
        op.execute("VACUUM FULL bid")
        op.execute("ANALYZE bid")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE bid ALTER COLUMN search_vector SET STORAGE EXTENDED")
