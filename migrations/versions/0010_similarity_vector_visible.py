"""The similarity candidates' visibility join reads a narrow index, not the wide vector rows

`ix_similarity_vector_visible` holds (generation, bid, public, organisation): the candidates'
query (search_index/similarity/db_store.py) joins its per-bid scores to it by an index-only
scan instead of a sequential scan of rows that carry each bid's whole TF-IDF vector.

Revision ID: 0010_similarity_vector_visible
Revises: 0009_bid_figures_index
Create Date: 2026-12-02 18:50:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_similarity_vector_visible"
down_revision = "0009_bid_figures_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("similarity_vector", schema=None) as batch_op:
        batch_op.create_index(
            "ix_similarity_vector_visible",
            ["generation_id", "bid_id", "public", "organisation_id"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("similarity_vector", schema=None) as batch_op:
        batch_op.drop_index("ix_similarity_vector_visible")
