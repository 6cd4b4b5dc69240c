"""PostgreSQL full-text search kept by the database itself, in the same transaction as each write.

`bid.search_vector` is a weighted `tsvector` (title A, summary B, body as plain text C,
attachment text, programme and organisation names D; "/" splits words) behind a GIN index.
Triggers on `bid`, `attachment` and `organisation` recompute it, so on PostgreSQL search can
never lag or drift. The column is not in the models (SQLite has no such thing): `db.create_all()`
gets it from the `after_create` DDL below, deployed databases from migrations 0006 and 0008,
whose statements are frozen copies of these.
"""

from __future__ import annotations

from sqlalchemy import DDL, event

from bids.models import Attachment, Bid

VECTOR_COLUMN = "search_vector"
VECTOR_INDEX = "ix_bid_search_vector"
TS_CONFIG = "openbids_english"  # English stemming with accents folded ("Esmée" finds "Esmee")
# `funder:"..."` and `organisation:...` look names up (search_index.pg_query._name_condition):
# by lower(name), else by the name's words; without these, two scans of every organisation
# with a to_tsvector of each name (23 ms a search at 11k organisations).
NAME_LOWER_INDEX = "ix_organisation_name_lower"
NAME_SEARCH_INDEX = "ix_organisation_name_search"
# Browsing the public bids (no words): newest or largest first straight from an index (a
# sort of every bid was 43 ms at 42k), and the facet counts from a narrow covering index
# instead of the wide rows (46 -> 15 ms). Partial: what anonymous visitors may see.
PUBLIC = "visibility = 'published' AND hidden_at IS NULL"
NEWEST_INDEX = "ix_bid_public_newest"
AMOUNT_INDEX = "ix_bid_public_amount"
FACETS_INDEX = "ix_bid_public_facets"
# "Did you mean": the titles most like an unknown word (pg_trgm's word similarity).
TITLE_TRIGRAM_INDEX = "ix_bid_title_trigram"
SEARCH_INDEXES = (
    NAME_LOWER_INDEX,
    NAME_SEARCH_INDEX,
    NEWEST_INDEX,
    AMOUNT_INDEX,
    FACETS_INDEX,
    TITLE_TRIGRAM_INDEX,
)
# The vector stays in the row (compressed if need be) and the body text goes out of line
# instead: a search reads the vector of every match (to rank it, and to check it when a
# phrase or a field needs the positions), the body only for the page's snippets. Stored out
# of line, as PostgreSQL chose for most rows (a 1.5 kB vector beside a 1.5 kB abstract), each
# match cost a lookup in the TOAST table: ranking the 24,803 bids that hold "system" at 42k
# took 257-341 ms, 70-76 ms inline.
VECTOR_STORAGE = "MAIN"
# Names only PostgreSQL has: the migration test leaves them out of its models comparison.
PG_ONLY_NAMES = frozenset({VECTOR_COLUMN, VECTOR_INDEX, *SEARCH_INDEXES})

CONFIG_STATEMENTS = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{TS_CONFIG}') THEN
    CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = english);
    ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG}
      ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
  END IF;
END $$""",
    # Markdown to plain-ish text: links and images keep their words; tags, quote marks and
    # emphasis, heading, code and table characters go.
    r"""CREATE OR REPLACE FUNCTION openbids_markdown_plain(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(coalesce(src, ''),
    '!?\[([^\]]*)\]\([^)]*\)', '\1', 'g'),
    '</?[A-Za-z][^>]*>', ' ', 'g'),
    '(^|\n)[ \t]*(>[ \t]*)+', '\1', 'g'),
    '[#*_`~|\\]+', ' ', 'g')
$$""",
)

# Made with the bid table's (the organisation table comes first, before the text search
# configuration exists); migration 0011 for deployed databases.
INDEX_STATEMENTS = (
    f"CREATE INDEX IF NOT EXISTS {NAME_LOWER_INDEX} ON organisation (lower(name))",
    f"CREATE INDEX IF NOT EXISTS {NAME_SEARCH_INDEX} ON organisation "
    f"USING gin (to_tsvector('{TS_CONFIG}', name))",
    f"CREATE INDEX IF NOT EXISTS {NEWEST_INDEX} ON bid "
    f"((coalesce(published_at, created_at)) DESC NULLS LAST, id) WHERE {PUBLIC}",
    f"CREATE INDEX IF NOT EXISTS {AMOUNT_INDEX} ON bid "
    f"((coalesce(amount_awarded_minor, amount_requested_minor)) DESC NULLS LAST, id) "
    f"WHERE {PUBLIC}",
    f"CREATE INDEX IF NOT EXISTS {FACETS_INDEX} ON bid (id) INCLUDE (status, funder_id, "
    f"amount_awarded_minor, amount_requested_minor, submitted_on, decided_on, themes, "
    f"locations) WHERE {PUBLIC}",
    f"CREATE INDEX IF NOT EXISTS {TITLE_TRIGRAM_INDEX} ON bid USING gin "
    f"(lower(title) gin_trgm_ops)",
)

BID_STATEMENTS = (
    f"ALTER TABLE bid ADD COLUMN IF NOT EXISTS {VECTOR_COLUMN} tsvector",
    f"ALTER TABLE bid ALTER COLUMN {VECTOR_COLUMN} SET STORAGE {VECTOR_STORAGE}",
    f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON bid USING gin ({VECTOR_COLUMN})",
    f"""CREATE OR REPLACE FUNCTION openbids_bid_vector(
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
  -- "/" splits words, as in Whoosh: the parser would keep "GaSb/InAs" whole, as a file path.
  RETURN setweight(to_tsvector('{TS_CONFIG}',
                               translate(coalesce(openbids_bid_vector.title, ''), '/', ' ')), 'A')
    || setweight(to_tsvector('{TS_CONFIG}',
                             translate(coalesce(openbids_bid_vector.summary, ''), '/', ' ')), 'B')
    || setweight(to_tsvector('{TS_CONFIG}', translate(
                   left(openbids_markdown_plain(openbids_bid_vector.body), 200000), '/', ' ')), 'C')
    || setweight(to_tsvector('{TS_CONFIG}', translate(left(coalesce(attached, ''), 200000) || ' '
                 || coalesce(openbids_bid_vector.programme, '') || ' ' || coalesce(names, ''),
                 '/', ' ')), 'D');
END $$""",
    f"""CREATE OR REPLACE FUNCTION openbids_bid_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.{VECTOR_COLUMN} := openbids_bid_vector(NEW.id, NEW.title, NEW.summary, NEW.body,
    NEW.programme, NEW.organisation_id, NEW.funder_id);
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_bid_search ON bid",
    f"""CREATE TRIGGER openbids_bid_search
BEFORE INSERT OR UPDATE OF title, summary, body, programme, organisation_id, funder_id,
  {VECTOR_COLUMN} ON bid
FOR EACH ROW EXECUTE FUNCTION openbids_bid_search_trigger()""",
    # Setting the vector to NULL makes the bid trigger recompute it.
    f"""CREATE OR REPLACE FUNCTION openbids_organisation_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bid SET {VECTOR_COLUMN} = NULL WHERE organisation_id = NEW.id OR funder_id = NEW.id;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_organisation_search ON organisation",
    """CREATE TRIGGER openbids_organisation_search
AFTER UPDATE OF name ON organisation
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
EXECUTE FUNCTION openbids_organisation_search_trigger()""",
)

ATTACHMENT_STATEMENTS = (
    f"""CREATE OR REPLACE FUNCTION openbids_attachment_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE bid SET {VECTOR_COLUMN} = NULL WHERE id = OLD.bid_id;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.bid_id IS DISTINCT FROM OLD.bid_id) THEN
    UPDATE bid SET {VECTOR_COLUMN} = NULL WHERE id = NEW.bid_id;
  END IF;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS openbids_attachment_search ON attachment",
    """CREATE TRIGGER openbids_attachment_search
AFTER INSERT OR DELETE OR UPDATE OF text, bid_id ON attachment
FOR EACH ROW EXECUTE FUNCTION openbids_attachment_search_trigger()""",
)


def _listen(table, statements) -> None:
    for statement in statements:
        # DDL() formats its text with %: none of these statements contains one.
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


_listen(Bid.__table__, CONFIG_STATEMENTS + BID_STATEMENTS + INDEX_STATEMENTS)
_listen(Attachment.__table__, ATTACHMENT_STATEMENTS)
