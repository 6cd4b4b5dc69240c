"""The database similarity store's change log: the bids each change touched

`similarity_change` (version, bid_id) is written with every change of the current generation
and emptied by a refit. A process that kept bids' pairs (`pairs._PairMemo`) reads the bids
changed since the version it last saw, and scores only those against the pairs it kept.

Revision ID: 0013_similarity_change
Revises: 0012_search_vector_in_the_row
Create Date: 2026-12-04 05:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_similarity_change"
down_revision = "0012_search_vector_in_the_row"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "similarity_change",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bid_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("version", "bid_id", name=op.f("pk_similarity_change")),
    )


def downgrade():
    op.drop_table("similarity_change")
