"""PostgreSQL search vector: "/" splits words ("GaSb/InAs" is found by "gasb"), as in Whoosh

PostgreSQL's parser reads "GaSb/InAs" or "SBIR/STTR" as one file-path token, so neither word
was found. openbids_bid_vector now turns "/" into a space first; every bid's vector is
recomputed. The statement is a frozen copy of search_index/pg_schema.py at this revision.

Revision ID: 0008_search_vector_slashes
Revises: 0007_similarity_terms
Create Date: 2026-12-02 04:40:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_search_vector_slashes"
down_revision = "0007_similarity_terms"
branch_labels = None
depends_on = None

_HEAD = """CREATE OR REPLACE FUNCTION openbids_bid_vector(
  bid_id integer, title text, summary text, body text, programme text,
  organisation_id integer, funder_id integer) RETURNS tsvector
LANGUAGE plpgsql STABLE AS $$
DECLARE
  attached text;
  names text;
BEGIN
  SELECT string_agg(a.text, ' ' ORDER BY a.id) INTO attached
    FROM attachment a WHERE a.bid_id = openbids_bid_vector.bid_id AND a.text <> '';
  SELECT string_agg(o.name, ' ') INTO names FROM organisation o
    WHERE o.id IN (openbids_bid_vector.organisation_id, openbids_bid_vector.funder_id);
"""

SPLITS_SLASHES = (
    _HEAD
    + """  RETURN setweight(to_tsvector('openbids_english',
                               translate(coalesce(openbids_bid_vector.title, ''), '/', ' ')), 'A')
    || setweight(to_tsvector('openbids_english',
                             translate(coalesce(openbids_bid_vector.summary, ''), '/', ' ')), 'B')
    || setweight(to_tsvector('openbids_english', translate(
                   left(openbids_markdown_plain(openbids_bid_vector.body), 200000), '/', ' ')), 'C')
    || setweight(to_tsvector('openbids_english', translate(left(coalesce(attached, ''), 200000)
                 || ' ' || coalesce(openbids_bid_vector.programme, '') || ' '
                 || coalesce(names, ''), '/', ' ')), 'D');
END $$"""
)

AS_IN_0006 = (
    _HEAD
    + """  RETURN setweight(to_tsvector('openbids_english', coalesce(openbids_bid_vector.title, '')), 'A')
    || setweight(to_tsvector('openbids_english', coalesce(openbids_bid_vector.summary, '')), 'B')
    || setweight(to_tsvector('openbids_english',
                             left(openbids_markdown_plain(openbids_bid_vector.body), 200000)), 'C')
    || setweight(to_tsvector('openbids_english', left(coalesce(attached, ''), 200000) || ' '
                 || coalesce(openbids_bid_vector.programme, '') || ' ' || coalesce(names, '')),
                 'D');
END $$"""
)

# Setting the column makes the bid trigger recompute it.
RECOMPUTE = "UPDATE bid SET search_vector = NULL"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SPLITS_SLASHES)
        op.execute(RECOMPUTE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(AS_IN_0006)
        op.execute(RECOMPUTE)
