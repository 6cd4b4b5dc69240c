"""PostgreSQL full-text search: bid.search_vector, its GIN index and the triggers keeping it

PostgreSQL only (SQLite keeps using the Whoosh index): a weighted tsvector per bid (title A,
summary B, body as plain text C, attachments' text, programme and names D), recomputed by
triggers on bid, attachment and organisation in the same transaction as each write.
The statements are a frozen copy of search_index/pg_schema.py at this revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'openbids_english') THEN
    CREATE TEXT SEARCH CONFIGURATION openbids_english (COPY = english);
    ALTER TEXT SEARCH CONFIGURATION openbids_english
      ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
  END IF;
END $$""",
    r"""CREATE OR REPLACE FUNCTION openbids_markdown_plain(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(coalesce(src, ''),
    '!?\[([^\]]*)\]\([^)]*\)', '\1', 'g'),
    '</?[A-Za-z][^>]*>', ' ', 'g'),
    '(^|\n)[ \t]*(>[ \t]*)+', '\1', 'g'),
    '[#*_`~|\\]+', ' ', 'g')
$$""",
    "ALTER TABLE bid ADD COLUMN IF NOT EXISTS search_vector tsvector",
    "CREATE INDEX IF NOT EXISTS ix_bid_search_vector ON bid USING gin (search_vector)",
    """CREATE OR REPLACE FUNCTION openbids_bid_vector(
  bid_id integer, title text, summary text, body text, programme text,
  organisation_id integer, funder_id integer) RETURNS tsvector
LANGUAGE plpgsql STABLE AS $$
DECLARE
  attached text;
  names text;
BEGIN
  SELECT string_agg(a.text, ' ' ORDER BY a.id) INTO attached
    FROM attachment a WHERE a.bid_id = openbids_bid_vector.bid_id AND a.text <> '';
  SELECT string_agg(o.name, ' ') INTO names
    FROM organisation o WHERE o.id IN (openbids_bid_vector.organisation_id, openbids_bid_vector.funder_id);
  RETURN setweight(to_tsvector('openbids_english', coalesce(openbids_bid_vector.title, '')), 'A')
    || setweight(to_tsvector('openbids_english', coalesce(openbids_bid_vector.summary, '')), 'B')
    || setweight(to_tsvector('openbids_english', left(openbids_markdown_plain(openbids_bid_vector.body), 200000)), 'C')
    || setweight(to_tsvector('openbids_english', left(coalesce(attached, ''), 200000) || ' '
                 || coalesce(openbids_bid_vector.programme, '') || ' ' || coalesce(names, '')), 'D');
END $$""",
    """CREATE OR REPLACE FUNCTION openbids_bid_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := openbids_bid_vector(NEW.id, NEW.title, NEW.summary, NEW.body,
    NEW.programme, NEW.organisation_id, NEW.funder_id);
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_bid_search ON bid",
    """CREATE TRIGGER openbids_bid_search
BEFORE INSERT OR UPDATE OF title, summary, body, programme, organisation_id, funder_id,
  search_vector ON bid
FOR EACH ROW EXECUTE FUNCTION openbids_bid_search_trigger()""",
    """CREATE OR REPLACE FUNCTION openbids_organisation_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bid SET search_vector = NULL WHERE organisation_id = NEW.id OR funder_id = NEW.id;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_organisation_search ON organisation",
    """CREATE TRIGGER openbids_organisation_search
AFTER UPDATE OF name ON organisation
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
EXECUTE FUNCTION openbids_organisation_search_trigger()""",
    """CREATE OR REPLACE FUNCTION openbids_attachment_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE bid SET search_vector = NULL WHERE id = OLD.bid_id;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.bid_id IS DISTINCT FROM OLD.bid_id) THEN
    UPDATE bid SET search_vector = NULL WHERE id = NEW.bid_id;
  END IF;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_attachment_search ON attachment",
    """CREATE TRIGGER openbids_attachment_search
AFTER INSERT OR DELETE OR UPDATE OF text, bid_id ON attachment
FOR EACH ROW EXECUTE FUNCTION openbids_attachment_search_trigger()""",
    # Existing bids: setting the column makes the trigger compute it.
    "UPDATE bid SET search_vector = NULL",
)

DOWNGRADE = (
    "DROP TRIGGER IF EXISTS openbids_attachment_search ON attachment",
    "DROP TRIGGER IF EXISTS openbids_organisation_search ON organisation",
    "DROP TRIGGER IF EXISTS openbids_bid_search ON bid",
    "DROP FUNCTION IF EXISTS openbids_attachment_search_trigger()",
    "DROP FUNCTION IF EXISTS openbids_organisation_search_trigger()",
    "DROP FUNCTION IF EXISTS openbids_bid_search_trigger()",
    "DROP FUNCTION IF EXISTS openbids_bid_vector(integer, text, text, text, text, integer, integer)",
    "DROP INDEX IF EXISTS ix_bid_search_vector",
    "ALTER TABLE bid DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS openbids_markdown_plain(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS openbids_english",
)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
