"""What keeps search fast: capped wildcards, a result window, exact-value fields as filters;
and snippets cut from the plain text a reader sees, never from raw Markdown."""

from __future__ import annotations

import pytest
from flask import current_app

from search_index.filters import SearchLimits
from search_index.service import SearchService, get_search_service
from search_index.snippets import plain_text
from tests.conftest import make_config


@pytest.fixture
def app_config(tmp_path):
    return make_config(tmp_path, SEARCH_PREFIX_TERMS=2, SEARCH_MAX_RESULT_WINDOW=4, BIDS_PER_PAGE=2)


@pytest.fixture
def corpus(db, factory):
    org = factory.org("Harbour Arts")
    lab = factory.org("Radar Labs")
    dod = {"name": "Department of Defense"}
    bids = {
        # nanotube in three bids, nanowire in two, nanoscale in one
        "tube1": factory.bid(org, title="Nanotube paint", body="Nanotube coatings."),
        "tube2": factory.bid(
            org, title="Nanotube nanowire cable", body="Nanotube and nanowire cable."
        ),
        "tube3": factory.bid(org, title="Nanotube sensor", body="Nanotube sensing."),
        "wire": factory.bid(org, title="Nanowire lamp", body="Nanowire lighting."),
        "scale": factory.bid(org, title="Nanoscale printing", body="Nanoscale printing."),
        "radar": factory.bid(
            lab,
            title="Radar for ships",
            body="A radar.",
            funder=dod,
            status="awarded",
            themes=["Maritime"],
        ),
        "radar_edu": factory.bid(
            lab,
            title="Radar lessons",
            body="Teaching radar.",
            funder={"name": "Department of Defense Education Activity"},
        ),
        "radar_other": factory.bid(
            org, title="Harbour radar art", body="Radar as art.", funder={"name": "Arts Council"}
        ),
    }
    db.session.commit()
    return bids


def ids(results):
    return set(results.bid_ids)


# --- 1. trailing wildcards: the most frequent expansions, said so -------------------------


def whoosh_only():
    """The wildcard cap is Whoosh's: PostgreSQL matches a prefix in one range scan of its
    GIN index, whatever the number of words it reaches (see PgSearchService)."""
    if current_app.config["SEARCH_BACKEND"] != "whoosh":
        pytest.skip("PostgreSQL does not cap trailing wildcards (one GIN range scan)")


def test_a_wildcard_reaches_its_most_frequent_words_and_says_so(corpus):
    whoosh_only()
    b = corpus
    capped = get_search_service().search(None, "nano*")  # SEARCH_PREFIX_TERMS=2
    assert capped.total == 4 and ids(capped) == {
        b["tube1"].id,
        b["tube2"].id,
        b["tube3"].id,
        b["wire"].id,
    }  # not the rare "nanoscale"
    assert "nano*" in capped.message and "2 most common" in capped.message
    assert not capped.fell_back
    whole = SearchService(current_app.extensions["search_index"], SearchLimits(50, 4))
    everything = whole.search(None, "nano*", per_page=4)
    assert everything.total == 5 and everything.message is None


def test_the_cap_is_shown_on_the_page_and_in_the_api(client, corpus):
    whoosh_only()
    page = client.get("/search?q=nano*").get_data(as_text=True)
    assert "2 most common" in page
    body = client.get("/api/v1/bids?q=nano*").get_json()
    assert body["total"] == 4 and "2 most common" in body["notice"]


# --- 2. deep pages: a maximum result window, pointing to the export -----------------------


def test_pages_beyond_the_window_point_to_the_export(corpus):
    s = get_search_service()  # window 4
    assert len(s.search(None, "nano*", page=2, per_page=2).items) == 2
    assert len(s.search(None, "radar OR nanotube OR nanowire", per_page=20).items) == 4
    beyond = s.search(None, "radar OR nanotube OR nanowire", page=3, per_page=2)
    assert beyond.window_exceeded and beyond.items == [] and beyond.total == 7
    assert "first 4 results" in beyond.message and "export" in beyond.message
    assert beyond.last_page == 2
    # the export is not windowed
    exported = list(s.iter_bid_ids(None, "radar OR nanotube OR nanowire", chunk=2))
    assert len(exported) == 7


def test_past_the_last_result_within_the_window_is_an_empty_page_not_a_refusal(client, corpus):
    """The window refuses deep pages of many results; a page past the end of a few (here 2,
    fewer than the window of 4) is an ordinary empty page, as on any list."""
    beyond = get_search_service().search(None, "radar", page=5, per_page=2)
    assert beyond.total <= 4 and not beyond.window_exceeded and beyond.items == []
    response = client.get("/api/v1/bids?q=radar&per_page=2&page=5")
    assert response.status_code == 200 and response.get_json()["items"] == []
    assert client.get("/api/v1/bids?q=nothingmatchesthis&page=254").status_code == 200


def test_the_api_answers_400_and_the_page_stays_friendly(client, corpus):
    q = "radar OR nanotube OR nanowire"
    assert client.get(f"/api/v1/bids?q={q}&per_page=2&page=2").status_code == 200
    response = client.get(f"/api/v1/bids?q={q}&per_page=2&page=3")
    assert response.status_code == 400
    assert "export" in response.get_data(as_text=True)
    page = client.get(f"/search?q={q}&page=3")
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "first 4 results" in html
    assert "/search/export.csv?q=" in html and "Back to page 2" in html
    second = client.get(f"/search?q={q}&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and 'rel="next"' not in second
    big = client.get(f"/search?q={q}&page=999999999999")
    assert big.status_code in (400, 404)


# --- 3. exact-value fields are filters over doc values, not phrase queries ----------------


def test_exact_value_fields_filter_on_the_whole_value(corpus):
    b, s = corpus, get_search_service()
    # a phrase query would also find "Department of Defense Education Activity"
    assert ids(s.search(None, 'funder:"Department of Defense" radar')) == {b["radar"].id}
    assert ids(s.search(None, 'funder:"department of defense" AND radar')) == {b["radar"].id}
    assert ids(s.search(None, 'radar funder:"Department of Defense"')) == {b["radar"].id}
    assert ids(s.search(None, 'funder:"Department of Defense"')) == {b["radar"].id}
    assert ids(s.search(None, "status:awarded radar")) == {b["radar"].id}
    assert ids(s.search(None, "theme:maritime")) == {b["radar"].id}
    assert ids(s.search(None, 'organisation:"Radar Labs" radar')) == {
        b["radar"].id,
        b["radar_edu"].id,
    }
    # a value no document has exactly is searched as words, as before
    assert ids(s.search(None, "funder:defense radar")) == {b["radar"].id, b["radar_edu"].id}
    # with OR or NOT the clause stays part of the expression
    assert ids(s.search(None, 'funder:"Arts Council" OR title:ships')) == {
        b["radar_other"].id,
        b["radar"].id,
    }
    assert ids(s.search(None, 'radar NOT funder:"Arts Council"')) == {
        b["radar"].id,
        b["radar_edu"].id,
    }


# --- 5. snippets from plain text, never raw Markdown --------------------------------------


def test_snippets_are_cut_from_the_plain_text_of_markdown(db, factory):
    org = factory.org("Green Streets Trust")
    factory.bid(
        org,
        title="Neighbours",
        body=(
            "## Why this matters\n\nWe build **infrastructure** for lasting relationships, "
            "with [partners](https://example.org) and `tools`.\n\n- one\n- two"
        ),
    )
    db.session.commit()
    hit = get_search_service().search(None, "relationships").items[0]
    snippet = str(hit.snippet)
    assert "<mark>relationships</mark>" in snippet
    # (PostgreSQL's ts_headline may start the fragment a word later than Whoosh's snippets)
    assert "this matters" in snippet and "infrastructure" in snippet
    for markup in ("##", "**", "](", "`"):
        assert markup not in snippet


def test_snippets_mark_accented_words_the_folded_query_finds(db, factory):
    factory.bid(factory.org("Ecoles Unies"), title="Musique", body="Une école de musique naïve.")
    db.session.commit()
    snippet = str(get_search_service().search(None, "naive").items[0].snippet)
    assert "<mark>naïve</mark>" in snippet


def test_snippets_of_plain_text_are_still_escaped(db, factory):
    factory.bid(factory.org("Maths Club"), title="Sums", body="Show that 2 < 3 & 4 > 1 for pupils.")
    db.session.commit()
    snippet = str(get_search_service().search(None, "pupils").items[0].snippet)
    assert "2 &lt; 3 &amp; 4 &gt; 1" in snippet and "<mark>pupils</mark>" in snippet


def test_plain_text_leaves_plain_text_alone_and_renders_markdown():
    assert plain_text("Carbon nanotube arrays, 3.5 nm wide.") == (
        "Carbon nanotube arrays, 3.5 nm wide."
    )
    assert plain_text("# Title\n\n*one* & __two__") == "Title\none & two"
    assert plain_text("a <b> c") == "a c"  # raw HTML is not text a reader sees
    assert plain_text("") == ""


# --- 6. known-item search -------------------------------------------------------------


def test_title_words_and_known_item_search(corpus):
    from search_index.relevance import known_item, title_words

    assert title_words("The Radar for the Ships of 2020 and radar lessons") == [
        "radar",
        "ships",
        "lessons",
    ]
    assert title_words("Radar lessons") == ["radar", "lessons"]
    b = corpus
    pairs = [(b["radar_other"].id, "Harbour radar art"), (b["tube3"].id, "Nanotube sensor sensing")]
    assert known_item(get_search_service(), pairs) == 1.0
    # a title that names another bid's words does not count as found
    assert known_item(get_search_service(), [(b["wire"].id, "Radar ships lessons")]) == 0.0
    assert known_item(get_search_service(), [(b["wire"].id, "Nanowire")]) == 0.0  # too short


def test_only_anded_clauses_outside_phrases_become_filters():
    from search_index.query import split_exact

    clauses, rest = split_exact('"see funder:x now" status:awarded AND radar year:2010')
    assert [(c.field, c.value) for c in clauses] == [("status", "awarded"), ("year", "2010")]
    assert rest == '"see funder:x now" AND radar'
    assert split_exact('funder:"A" OR b') == ([], 'funder:"A" OR b')
    assert split_exact("year:[2010 TO 2012] radar")[0] == []
    assert split_exact("theme:health*")[0] == []
