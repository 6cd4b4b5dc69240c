"""The matcher's tables for the database backend: generations, vocabulary, rows, postings

Derived data (search_index/similarity/db_models.py), filled by the "similar" outbox
consumer or `flask --app portal similarity rebuild`; empty until then.

Revision ID: 0007_similarity_terms
Revises: 0006
Create Date: 2026-12-02 01:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_similarity_terms"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "similarity_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bids", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_similarity_generation")),
    )
    op.create_table(
        "similarity_vocabulary",
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("idf", sa.REAL(), nullable=False),
        sa.PrimaryKeyConstraint("generation_id", "term_id", name=op.f("pk_similarity_vocabulary")),
    )
    op.create_table(
        "similarity_vector",
        sa.Column("bid_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("fitted", sa.Boolean(), nullable=False),
        sa.Column("columns", sa.LargeBinary(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("bid_id", name=op.f("pk_similarity_vector")),
    )
    op.create_table(
        "similarity_term",
        sa.Column("term_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bid_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("weight", sa.REAL(), nullable=False),
        sa.PrimaryKeyConstraint("term_id", "bid_id", name=op.f("pk_similarity_term")),
    )
    op.create_index("ix_similarity_term_bid_id", "similarity_term", ["bid_id"], unique=False)


def downgrade():
    op.drop_index("ix_similarity_term_bid_id", table_name="similarity_term")
    op.drop_table("similarity_term")
    op.drop_table("similarity_vector")
    op.drop_table("similarity_vocabulary")
    op.drop_table("similarity_generation")
