"""notifications say what they are about (subject, subject_id) instead of holding a URL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:50:00.000000

"""

import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The paths the domain used to write, and the subject each one names.
PATHS = (
    (re.compile(r"^/pools/invitations/(\d+)$"), "pool_invitation", "/pools/invitations/{}"),
    (re.compile(r"^/pools/introductions/(\d+)$"), "introduction", "/pools/introductions/{}"),
    (re.compile(r"^/pools/bids/(\d+)/pledges$"), "bid_pledges", "/pools/bids/{}/pledges"),
    (re.compile(r"^/pools/(\d+)$"), "pool", "/pools/{}"),
)

notification = sa.table(
    "notification",
    sa.column("id", sa.Integer),
    sa.column("url", sa.String),
    sa.column("subject", sa.String),
    sa.column("subject_id", sa.Integer),
)


def upgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    for row_id, url in conn.execute(sa.select(notification.c.id, notification.c.url)).all():
        subject, subject_id = "", None
        for pattern, name, _path in PATHS:
            found = pattern.match(url or "")
            if found:
                subject, subject_id = name, int(found.group(1))
                break
        conn.execute(
            notification.update()
            .where(notification.c.id == row_id)
            .values(subject=subject, subject_id=subject_id)
        )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("subject", existing_type=sa.String(length=30), nullable=False)
        batch_op.drop_column("url")


def downgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.String(length=300), nullable=True))
    conn = op.get_bind()
    paths = {name: path for _pattern, name, path in PATHS}
    rows = conn.execute(
        sa.select(notification.c.id, notification.c.subject, notification.c.subject_id)
    ).all()
    for row_id, subject, subject_id in rows:
        url = paths[subject].format(subject_id) if subject in paths and subject_id else ""
        conn.execute(notification.update().where(notification.c.id == row_id).values(url=url))
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("url", existing_type=sa.String(length=300), nullable=False)
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject")
