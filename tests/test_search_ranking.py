"""The title boost both backends share (search_index.ranking), and words split at "/".

The rule's pieces need no database; the ranking tests run on whichever backend the app has
(Whoosh on SQLite, PostgreSQL's full-text search under TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest

from search_index import ranking
from search_index.ranking import (
    in_order,
    rescore,
    title_begins,
    title_boost_words,
    title_factor,
)


def search(q, **kwargs):
    from search_index.service import get_search_service

    return get_search_service().search(None, q, snippets=False, facets=False, **kwargs)


# --- the rule ---------------------------------------------------------------------------------


def test_plain_words_are_boosted_anything_more_is_ranked_as_typed():
    assert title_boost_words("Compact low-cost  LIDAR") == ["compact", "low", "cost", "lidar"]
    assert title_boost_words("low cost low") == ["low", "cost"]
    assert title_boost_words('funder:"Department of Defense" radar array') == ["radar", "array"]
    for structured in (
        '"low cost" lidar',
        "title:lidar compact",
        "lidar AND compact",
        "lidar OR radar",
        "lidar NOT radar",
        "lidar -radar",
        "lid* compact",
        "(lidar compact)",
        "lidar^2 compact",
    ):
        assert title_boost_words(structured) == [], structured
    assert title_boost_words("lidar") == []  # one word: the title's field weight says it all
    assert title_boost_words("a b c d e f g h i") == []  # a description, not a title
    assert title_boost_words("") == [] and title_boost_words("   ") == []


def test_words_in_order_each_within_the_slop_of_the_one_before():
    assert in_order([[0], [1], [2]])
    assert in_order([[0], [3], [6]], slop=3)
    assert not in_order([[0], [4]], slop=3)
    assert not in_order([[2], [1]])  # out of order
    assert in_order([[0, 7], [2, 9], [10]])  # a chain through the second occurrences
    assert not in_order([[0, 7], [2], [8]])  # the second word's only place breaks it
    assert not in_order([])
    assert title_factor(False, False) == title_factor(False, True) == 1.0
    assert 1.0 < title_factor(True, False) < title_factor(True, True)


def test_a_title_begins_with_the_words_in_their_order_stemmed_stop_words_aside():
    """Stemmed as the index stems (search_index.schema.make_analyzer)."""
    assert title_begins("Gas turbine engine oil additives", ["gas", "turbine", "engine"])
    assert title_begins(
        "NEURAL NETWORK FOR THE ASSESSMENT OF RISK", ["neural", "network", "assessment"]
    )
    assert title_begins("Hand-held computers in clinics", ["hand", "held", "computer"])
    assert not title_begins("Compact gas turbine engine", ["gas", "turbine", "engine"])
    assert not title_begins("Turbine gas engine", ["gas", "turbine", "engine"])
    assert not title_begins("Gas turbines", ["gas"])  # one word: the field weight says it all
    assert not title_begins("", ["gas", "turbine"])
    assert title_factor(True, True) < title_factor(True, True, True)
    assert title_factor(False, False, True) == 1.0  # only a title holding every word


def test_rescore_reorders_the_window_only(monkeypatch):
    monkeypatch.setattr(ranking, "RESCORE_WINDOW", 3)
    scored = [(1, 10.0), (2, 9.0), (3, 8.0), (4, 7.0), (5, 6.0)]
    assert rescore(scored, {3: 2.0, 5: 100.0}) == [
        (3, 16.0),
        (1, 10.0),
        (2, 9.0),
        (4, 7.0),
        (5, 6.0),
    ]
    assert rescore(scored, {}) == scored
    assert rescore([(1, 1.0), (2, 1.0)], {}) == [(1, 1.0), (2, 1.0)]  # ties keep their order


def test_postgres_title_queries_chain_the_content_words():
    from search_index.pg_query import parse, title_tsqueries

    every, chain = title_tsqueries("gun mount for ships")
    assert every == "gun:A & mount:A & for:A & ships:A"
    assert chain == (
        "(gun:A <1> mount:A | gun:A <2> mount:A | gun:A <3> mount:A | gun:A <4> mount:A)"
        " & (mount:A <1> ships:A | mount:A <2> ships:A | mount:A <3> ships:A"
        " | mount:A <4> ships:A)"
    )
    assert title_tsqueries("the panel") == ("the:A & panel:A", None)
    assert title_tsqueries('"solar panel"') == (None, None)
    assert parse("title:solar panel").title_tsquery is None
    assert parse("solar panel'); DROP TABLE bid; --").title_tsquery is None


# --- on the app's backend -----------------------------------------------------------------------


def test_a_title_holding_every_word_beats_words_spread_over_summary_and_body(db, factory):
    org = factory.org("Harbour Engineering")
    spread = factory.bid(
        org,
        title="Compact radar for harbour pilots",
        summary="A compact radar, low in cost to build and to run.",
        body="Compact and low cost. " * 3,
    )
    titled = factory.bid(
        org,
        title="Compact low-cost gun mount for space-constrained decks",
        summary="A mount for small ships.",
        body="We will design, build and test the mount at sea.",
    )
    assert search("compact low cost").bid_ids == [titled.id, spread.id]


def test_a_title_holding_the_words_in_the_order_typed_comes_first(db, factory):
    org = factory.org("Sunlit Robotics")
    shuffled = factory.bid(org, title="Cleaning drone kit with solar panel")
    ordered = factory.bid(org, title="Solar panel cleaning with drone kit")
    assert search("solar panel cleaning").bid_ids == [ordered.id, shuffled.id]


def test_a_title_beginning_with_the_words_typed_comes_first(db, factory):
    """Known-item search: a user recalls a title's first words ("gas turbine engine")."""
    org = factory.org("Turbine Works")
    inside = factory.bid(
        org,
        title="Compact gas turbine engine with blade cooling",
        summary="Blade cooling for small aircraft.",
    )
    begins = factory.bid(
        org,
        title="Gas turbine engine oil additives for advanced bearings",
        summary="Additives for bearings in small aircraft.",
    )
    assert search("gas turbine engine").bid_ids == [begins.id, inside.id]


def test_pages_neither_repeat_nor_skip_a_bid_across_the_rescored_window(db, factory, monkeypatch):
    import search_index.pg_service
    import search_index.service

    for module in (ranking, search_index.service, search_index.pg_service):
        monkeypatch.setattr(module, "RESCORE_WINDOW", 3)
    org = factory.org("River Trust")
    made = [
        factory.bid(org, title="River survey of otters", body="River survey. " * n)
        for n in range(1, 5)
    ] + [
        factory.bid(org, title=f"Wetland plan {n}", body="A river and a survey. " * n)
        for n in range(1, 4)
    ]
    pages = [search("river survey", page=page, per_page=2).bid_ids for page in range(1, 5)]
    seen = [bid_id for page in pages for bid_id in page]
    assert sorted(seen) == sorted(b.id for b in made) and len(seen) == len(set(seen))
    assert search("river survey", per_page=7).bid_ids == seen  # the same order in one page


@pytest.mark.parametrize("q", ["gasb", "inas", "sbir sttr", "gasb inas detector"])
def test_words_joined_by_a_slash_are_found_on_their_own(db, factory, q):
    org = factory.org("Infrared Devices")
    bid = factory.bid(
        org,
        title="SBIR/STTR Phase II: Nano-Passivation of GaSb/InAs Superlattice Detectors",
        summary="Passivation for infrared detectors.",
    )
    factory.bid(org, title="Quantum dot detectors", summary="Infrared detectors.")
    assert search(q).bid_ids[:1] == [bid.id]
