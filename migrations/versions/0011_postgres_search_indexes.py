"""PostgreSQL search: organisation names, browsing orders and facet counts read indexes

- `funder:"Department of Energy"` and `organisation:technologies` find the organisations first
  (search_index/pg_query.py): by lower(name), else by a full-text match of the name. Both
  scanned every organisation, computing each name's tsvector (23 ms of a search at 11k
  organisations, twice: once for the facet counts, once for the page).
- Browsing the public bids newest or largest first sorted every bid (43 ms at 42k); two
  partial indexes hold those orders.
- The facet counts read every matching row of the wide bid table; a narrow covering index
  of the public bids holds the facet columns (46 -> 15 ms when browsing at 42k).
- "Did you mean" on PostgreSQL finds the titles most like an unknown word by a trigram index
  (the pg_trgm extension, shipped with PostgreSQL and trusted: a database owner may create it).

Statements as in search_index/pg_schema.py's INDEX_STATEMENTS at this revision. Nothing on
SQLite.

Revision ID: 0011_postgres_search_indexes
Revises: 0010_similarity_vector_visible
Create Date: 2026-12-03 09:45:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_postgres_search_indexes"
down_revision = "0010_similarity_vector_visible"
branch_labels = None
depends_on = None

PUBLIC = "visibility = 'published' AND hidden_at IS NULL"
INDEXES = {
    "ix_organisation_name_lower": "ON organisation (lower(name))",
    "ix_organisation_name_search": "ON organisation USING gin (to_tsvector('openbids_english', name))",
    "ix_bid_public_newest": (
        f"ON bid ((coalesce(published_at, created_at)) DESC NULLS LAST, id) WHERE {PUBLIC}"
    ),
    "ix_bid_public_amount": (
        "ON bid ((coalesce(amount_awarded_minor, amount_requested_minor)) DESC NULLS LAST, id) "
        f"WHERE {PUBLIC}"
    ),
    "ix_bid_public_facets": (
        "ON bid (id) INCLUDE (status, funder_id, amount_awarded_minor, amount_requested_minor, "
        f"submitted_on, decided_on, themes, locations) WHERE {PUBLIC}"
    ),
    "ix_bid_title_trigram": "ON bid USING gin (lower(title) gin_trgm_ops)",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(list(INDEXES)):
        op.execute(f"DROP INDEX IF EXISTS {name}")
