"""Search on PostgreSQL: the query translation, vectors kept in the writing transaction, two nodes.

The translation tests need no database (they read the tsquery strings built); the rest run
only when TEST_DATABASE_URL is PostgreSQL (`make test-postgres`), and say why otherwise.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bids.database import db as _db
from bids.publishing import hide_bid
from portal import create_app
from search_index import pg_query, search_backend
from search_index.query import FALLBACK_MESSAGE
from tests.conftest import ON_POSTGRES, make_config, vacuum_count

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="PostgreSQL search: set TEST_DATABASE_URL (make test-postgres)"
)

INJECTIONS = [
    "'&|!():*",
    "garden'); DROP TABLE bid; --",
    "a:* & !b | (c <-> d)",
    "\\'\\\\",
    '"""',
    "title:'&|!",
    "funder:'; DELETE FROM bid; --",
    "garden <-> shed",
    "!!!",
    ":*",
    "&",
    "theme:%_%",
    "location:\\%*",
    "year:2022'",
    "NOT",
    "AND OR NOT",
    "((((",
    "title:",
    "\x00garden",
    "café* naïve:*",
    "a" * 3000,
]


# --- translation (no database needed) --------------------------------------------------------


def ts(q: str) -> str | None:
    return pg_query.parse(q).rank_tsquery


def test_words_phrases_and_operators_become_tsquery():
    assert ts("garden shed") == "garden | shed"  # ranking looks for any positive word
    parsed = pg_query.parse("garden shed")
    assert parsed.condition is not None and not parsed.fell_back
    assert ts('"community garden"') == "(community <-> garden)"
    assert ts("theatre OR orchard") == "theatre | orchard"
    assert ts("garden AND NOT orchard") == "garden"  # what is excluded is not ranked on
    assert ts("title:garden") == "garden:A"
    assert ts('title:"old orchard"') == "(old:A <-> orchard:A)"


def test_prefixes_carry_stem_slack_but_never_below_four_letters():
    assert ts("orch*") == "orch:*"
    assert ts("restorat*") == "(restorat:* | restora | restor | resto)"
    assert ts("theat*") == "(theat:* | thea)"
    assert ts("title:restorat*") == "(restorat:*A | restora:A | restor:A | resto:A)"


def test_value_fields_are_sql_filters_not_words():
    parsed = pg_query.parse('funder:"Department of Defense" radar')
    assert ts('funder:"Department of Defense" radar') == "radar"
    assert parsed.condition is not None and not parsed.fell_back
    assert ts("status:awarded") is None and pg_query.parse("status:awarded").condition is not None


@pytest.mark.parametrize(
    "q",
    [
        "(garden OR",
        "garden AND",
        "year:notayear garden",
        ")))garden(((",
        'title:"garden',
        "NOT",
        "AND",
    ],
)
def test_malformed_queries_fall_back_to_their_words(q):
    parsed = pg_query.parse(q)
    assert parsed.fell_back and parsed.message == FALLBACK_MESSAGE


@pytest.mark.parametrize("q", INJECTIONS)
def test_tsquery_strings_hold_only_lexemes_and_our_operators(q):
    rank = ts(q) or ""
    allowed = set("&|!()<->:*ABCD ")
    assert all(ch.isalnum() or ch in allowed for ch in rank), rank
    assert "'" not in rank and ";" not in rank and "\\" not in rank


def test_backend_follows_the_database_unless_told():
    assert search_backend({"SQLALCHEMY_DATABASE_URI": "sqlite://"}) == "whoosh"
    assert search_backend({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y"}) == "postgres"
    assert (
        search_backend(
            {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y", "SEARCH_BACKEND": "whoosh"}
        )
        == "whoosh"
    )
    with pytest.raises(RuntimeError):
        search_backend({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SEARCH_BACKEND": "postgres"})
    with pytest.raises(RuntimeError):
        search_backend({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SEARCH_BACKEND": "solr"})


# --- on PostgreSQL ---------------------------------------------------------------------------


def search(q, user=None, **kwargs):
    from search_index.service import get_search_service

    return get_search_service().search(user, q, **kwargs)


@needs_postgres
@pytest.mark.parametrize("q", INJECTIONS)
def test_hostile_queries_never_error(corpus, q):
    results = search(q)
    assert results.total >= 0
    assert _db.session.execute(text("SELECT count(*) FROM bid")).scalar() == 5  # nothing dropped


@needs_postgres
def test_app_on_postgres_uses_the_database_engine(app):
    from search_index import get_index
    from search_index.pg_service import PgSearchIndex, PgSearchService
    from search_index.service import get_search_service

    assert app.config["SEARCH_BACKEND"] == "postgres"
    assert isinstance(get_index(), PgSearchIndex)
    assert isinstance(get_search_service(), PgSearchService)


@needs_postgres
def test_vectors_are_kept_in_the_writing_transaction(corpus, db, factory):
    b = corpus["bids"]
    # A committed bid is found at once: no outbox, no worker.
    fresh = factory.bid(corpus["green"], title="Kelp farming cooperative")
    assert search("kelp").bid_ids == [fresh.id]
    # A rolled-back one never (written by hand: the factory commits).
    from bids.publishing import create_bid

    create_bid(
        None,
        corpus["green"],
        {
            "title": "Seaweed that never was",
            "summary": "Gone.",
            "body": "",
            "visibility": "published",
        },
        check_membership=False,
    )
    db.session.flush()
    db.session.rollback()
    assert search("seaweed").total == 0
    # A hidden one disappears from public search, stays for the admin.
    hide_bid(corpus["admin"], fresh, "spam")
    db.session.commit()
    assert search("kelp").total == 0
    assert search("kelp", corpus["admin"]).bid_ids == [fresh.id]
    # Renaming an organisation re-indexes its bids by the trigger on organisation.
    corpus["other"].name = "Quayside Players"
    db.session.commit()
    assert search("organisation:quayside").bid_ids == [b["theatre"].id]
    assert search("quayside").bid_ids == [b["theatre"].id]


@needs_postgres
def test_attachment_text_is_searchable_at_once(corpus, db):
    from bids.models import Attachment

    b = corpus["bids"]
    attachment = Attachment(
        bid_id=b["theatre"].id,
        filename="plan.pdf",
        size=1,
        sha256="0" * 64,
        text="Budget for lighting rigs and stagehands.",
        extraction_status="ok",
    )
    db.session.add(attachment)
    db.session.commit()
    assert search("stagehands").bid_ids == [b["theatre"].id]
    db.session.delete(attachment)
    db.session.commit()
    assert search("stagehands").total == 0


@needs_postgres
def test_snippets_come_from_plain_text_not_markdown(corpus, factory):
    bid = factory.bid(
        corpus["green"],
        title="Mapping relationships",
        body="## Why this matters\n\nWe map **relationships** between <b>groups</b>.",
    )
    results = search("relationships")
    assert results.bid_ids == [bid.id]
    snippet = str(results.items[0].snippet)
    assert "<mark>relationships</mark>" in snippet
    assert "##" not in snippet and "**" not in snippet and "<b>" not in snippet


@needs_postgres
def test_snippets_escape_the_text_and_only_marks_are_markup(corpus, factory):
    factory.bid(
        corpus["green"],
        title="Ticket prices",
        body="Lanterns cost 5 < 6 & 7 > 2, said the lantern makers.",
    )
    snippet = str(search("lanterns").items[0].snippet)
    assert "<mark>Lanterns</mark>" in snippet and "&lt;" in snippet and "&amp;" in snippet
    assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


@needs_postgres
@pytest.mark.parametrize("q", ["garden", "community garden"])  # without and with the title boost
def test_a_ranked_search_reads_its_matches_once(corpus, db, factory, q):
    """Total, facets and the page by relevance come from one statement over the matches; the
    snippets of the page's bids from a second. (Three statements read the matches twice.)"""
    from sqlalchemy import event

    for n in range(2):  # enough results that no "did you mean" is looked for
        factory.bid(corpus["green"], title=f"Allotment {n}", body="A garden for the street.")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        results = search(q)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert results.total and results.items and results.facets["status"]
    assert results.bid_ids[0] == corpus["bids"]["garden"].id
    assert len(statements) == 2, statements
    assert statements[0].count("ts_rank_cd(") == 1
    assert "ts_headline" in statements[1]


@needs_postgres
def test_index_maintenance_interface(corpus, db, runner):
    from search_index import get_index, rebuild_search_index

    index = get_index()
    assert index.doc_count() == 5 and set(index.stored()) == {b.id for b in corpus["bids"].values()}
    assert index.check(db.session).total == 0
    # Drift can only be made by going round the trigger.
    db.session.execute(text("ALTER TABLE bid DISABLE TRIGGER openbids_bid_search"))
    db.session.execute(
        text("UPDATE bid SET search_vector = to_tsvector('simple', 'stale') WHERE id = :id"),
        {"id": corpus["bids"]["garden"].id},
    )
    db.session.execute(text("ALTER TABLE bid ENABLE TRIGGER openbids_bid_search"))
    db.session.commit()
    drift = index.check(db.session)
    assert drift.stale == [corpus["bids"]["garden"].id]
    result = runner.invoke(args=["index", "check"])
    assert result.exit_code == 1 and "stale: 1" in result.output
    reindexed = runner.invoke(args=["reindex"])
    assert reindexed.exit_code == 0 and "Indexed 5 bids." in reindexed.output
    assert index.check(db.session).total == 0
    vacuums = vacuum_count("bid")
    assert rebuild_search_index(db.session) == 5
    assert runner.invoke(args=["index", "check"]).exit_code == 0
    assert vacuum_count("bid") == vacuums  # nothing differed: nothing written, nothing to vacuum


@needs_postgres
def test_a_rebuild_writes_only_the_vectors_that_differ(corpus, db):
    from search_index import get_index, rebuild_search_index

    def versions() -> dict[int, str]:  # a row's xmin changes when it is written
        return dict(db.session.execute(text("SELECT id, xmin::text FROM bid")).all())

    garden = corpus["bids"]["garden"].id
    db.session.execute(text("ALTER TABLE bid DISABLE TRIGGER openbids_bid_search"))
    db.session.execute(text("UPDATE bid SET search_vector = NULL WHERE id = :id"), {"id": garden})
    db.session.execute(text("ALTER TABLE bid ENABLE TRIGGER openbids_bid_search"))
    db.session.commit()
    before, vacuums = versions(), vacuum_count("bid")
    assert rebuild_search_index(db.session) == 5
    after = versions()
    assert [i for i in before if before[i] != after[i]] == [garden]
    assert get_index().check(db.session).total == 0
    # The row it rewrote left a dead one: vacuumed now rather than when autovacuum comes by.
    assert vacuum_count("bid") == vacuums + 1


LIGHTHOUSE = (
    "Recording the oral history of the lighthouse keepers on the north coast: interviews "
    "with retired keepers and their families, a travelling exhibition of logbooks and lamps, "
    "and school workshops on the keepers' daily routines through the winter storms."
)


def _similar_ids(client, bid_id: int) -> list[int]:
    response = client.get(f"/api/v1/bids/{bid_id}/similar")
    assert response.status_code == 200
    return [item["bid"]["id"] for item in response.get_json()["items"]]


def _within(seconds: float, check) -> bool:
    """Whether `check()` holds within `seconds` (polled: the other node needs no push)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@needs_postgres
def test_two_nodes_one_database_see_the_same_search(tmp_path):
    """Two apps, separate instance folders, one PostgreSQL: what one writes the other finds,
    by search and by `similar` (the matcher's rows are in the database too)."""
    from bids.models import Bid, Organisation, User
    from search_index.service import get_search_service
    from tests.conftest import Factory

    config = {"RATELIMIT_ENABLED": False}
    node_a = create_app(make_config(tmp_path / "a", **config))
    node_b = create_app(make_config(tmp_path / "b", **config))
    assert node_a.config["INSTANCE_DIR"] != node_b.config["INSTANCE_DIR"]
    assert node_a.config["SIMILARITY_DIR"] != node_b.config["SIMILARITY_DIR"]
    with node_a.app_context():
        _db.create_all()
    try:
        with node_a.app_context():
            factory = Factory(_db)
            org = factory.org("Shared Harbour Trust")
            bid = factory.bid(org, title="Lighthouse keepers oral history", body=LIGHTHOUSE)
            admin = factory.user("admin@example.org", admin=True)
            bid_id, org_id, admin_id = bid.id, org.id, admin.id
        with node_b.app_context():
            assert get_search_service().search(None, "lighthouse").bid_ids == [bid_id]
            assert _similar_ids(node_b.test_client(), bid_id) == []
        with node_a.app_context():  # a second bid telling much the same story, through node A
            copy = Factory(_db).bid(
                Factory(_db).org("Coastal Memory Group"),
                title="Keepers of the lights",
                body=LIGHTHOUSE + " Volunteers will transcribe every interview.",
            )
            copy_id = copy.id
        # ... is matched on node B, which never applied an outbox row itself.
        assert _within(5, lambda: copy_id in _similar_ids(node_b.test_client(), bid_id))
        with node_b.app_context():
            # Moderation on node B ...
            admin = _db.session.get(User, admin_id)
            hide_bid(admin, _db.session.get(Bid, copy_id), "copied text")
            _db.session.commit()
            assert get_search_service().search(None, "lighthouse").bid_ids == [bid_id]
        with node_a.app_context():
            # ... is seen by node A at once.
            assert get_search_service().search(None, "lighthouse").bid_ids == [bid_id]
            assert _db.session.get(Organisation, org_id) is not None
        # The hidden bid is matched by neither node: not by `similar`, nor in the pairs the
        # pools' clusters read (those come from the stored rows alone).
        for node in (node_a, node_b):
            with node.app_context():
                from search_index import similarity

                assert copy_id not in _similar_ids(node.test_client(), bid_id)
                assert _within(5, lambda: not similarity.pairs_for(bid_id))
    finally:
        with node_a.app_context():
            _db.session.remove()
            _db.drop_all()
            _db.engine.dispose()
        with node_b.app_context():
            _db.session.remove()
            _db.engine.dispose()
