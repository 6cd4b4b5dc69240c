"""360Giving fields: planned dates, open call, data source, date modified, the rest as JSON;
every identifier of an organisation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:55:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identifiers", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.add_column(sa.Column("planned_start_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("planned_end_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("from_open_call", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("data_source", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("source_modified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("giving360", sa.JSON(), nullable=False, server_default="{}"))
    # The defaults only filled existing rows; the models give new rows their values.
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.alter_column("identifiers", server_default=None)
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.alter_column("giving360", server_default=None)


def downgrade():
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.drop_column("giving360")
        batch_op.drop_column("source_modified_at")
        batch_op.drop_column("data_source")
        batch_op.drop_column("from_open_call")
        batch_op.drop_column("planned_end_on")
        batch_op.drop_column("planned_start_on")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("identifiers")
