"""Insights read a narrow covering index instead of the wide bid rows; max(updated_at) is a seek

`ix_bid_figures` holds every column the insights' aggregates group and sum (bids/insights.py),
after the public filter's two columns, so each GROUP BY over the whole field scans it rather
than the table (whose rows carry the abstracts). `ix_bid_updated_at` makes the data
watermark's `max(updated_at)` an index seek instead of a table scan.

Revision ID: 0009_bid_figures_index
Revises: 0008_search_vector_slashes
Create Date: 2026-12-02 04:30:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_bid_figures_index"
down_revision = "0008_search_vector_slashes"
branch_labels = None
depends_on = None

FIGURES_COLUMNS = [
    "visibility",
    "hidden_at",
    "status",
    "funder_id",
    "organisation_id",
    "currency",
    "amount_requested_minor",
    "amount_awarded_minor",
    "submitted_on",
    "decided_on",
    "programme",
]


def upgrade():
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.create_index("ix_bid_figures", FIGURES_COLUMNS, unique=False)
        batch_op.create_index(batch_op.f("ix_bid_updated_at"), ["updated_at"], unique=False)


def downgrade():
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bid_updated_at"))
        batch_op.drop_index("ix_bid_figures")
