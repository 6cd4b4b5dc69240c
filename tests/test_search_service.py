"""The search service: query language and fallback, permissions, facets, sorting, snippets,
spelling."""

from __future__ import annotations

import pytest

from search_index.filters import SearchFilters, filters_from_args
from search_index.service import get_search_service


def ids(results):
    return set(results.bid_ids)


def service():
    return get_search_service()


def test_words_phrases_boolean_fields_and_wildcards(corpus):
    b = corpus["bids"]
    s = service()
    assert ids(s.search(None, "garden")) == {b["garden"].id, b["orchard"].id}
    assert ids(s.search(None, '"community garden"')) == {b["garden"].id}
    assert ids(s.search(None, "garden AND NOT orchard")) == {b["garden"].id}
    assert ids(s.search(None, "theatre OR orchard")) == {b["theatre"].id, b["orchard"].id}
    assert ids(s.search(None, "status:awarded")) == {b["theatre"].id}
    assert ids(s.search(None, "year:2021")) == {b["orchard"].id}
    assert ids(s.search(None, 'funder:"Esmee Fairbairn"')) == {b["orchard"].id}  # accents folded
    assert ids(s.search(None, "theme:arts")) == {b["theatre"].id}
    assert ids(s.search(None, "location:cardiff")) == {b["orchard"].id, b["theatre"].id}
    assert ids(s.search(None, "organisation:harbour")) == {b["theatre"].id}
    assert ids(s.search(None, "orch*")) == {b["orchard"].id}
    assert ids(s.search(None, "title:restoration")) == {b["orchard"].id}
    assert ids(s.search(None, "gardens")) == {b["garden"].id, b["orchard"].id}  # stemming


def test_trailing_wildcards_reach_stemmed_words(corpus):
    b = corpus["bids"]
    s = service()
    # "community" is indexed as its stem "commun", "restoration" as "restor": shorter than the
    # typed prefixes, which found nothing before.
    results = s.search(None, "communit*")
    assert ids(results) == ids(s.search(None, "community")) >= {b["garden"].id}
    assert "<mark>community</mark>" in str(results.items[0].snippet).lower()
    assert ids(s.search(None, "restorat*")) == {b["orchard"].id}
    assert ids(s.search(None, "title:restorat*")) == {b["orchard"].id}
    # Only a few letters are given back, and never below four: "theat*" does not become "the".
    assert ids(s.search(None, "theat*")) == {b["theatre"].id}
    assert ids(s.search(None, "communitarianism*")) == set()
    # Keyword fields are not stemmed: their prefixes are plain.
    assert ids(s.search(None, "location:cardif*")) == {b["orchard"].id, b["theatre"].id}
    assert ids(s.search(None, "location:cardiffs*")) == set()


@pytest.mark.parametrize(
    "q",
    [
        "(garden OR",
        "garden AND",
        "year:notayear garden",
        ")))garden(((",
        'title:"garden',
        "garden:",
    ],
)
def test_malformed_queries_never_error_and_fall_back_to_words(corpus, q):
    results = service().search(None, q)
    assert corpus["bids"]["garden"].id in ids(results)


def test_fallback_is_reported(corpus):
    results = service().search(None, "year:notayear garden")
    assert results.fell_back and "searched for its words" in results.message
    assert not service().search(None, "garden").fell_back


def test_permissions_drafts_and_hidden(corpus, factory):
    b, s = corpus["bids"], service()
    outsider = factory.user("out@example.org")
    member = factory.user("member@example.org", org=corpus["green"])
    other_member = factory.user("harbour@example.org", org=corpus["other"])
    public = {b["garden"].id, b["orchard"].id}
    assert ids(s.search(None, "garden")) == public
    assert ids(s.search(outsider, "garden")) == public
    assert ids(s.search(member, "garden")) == public | {b["draft"].id}
    assert ids(s.search(other_member, "garden")) == public | {b["hidden"].id}
    assert ids(s.search(corpus["admin"], "garden")) == public | {b["draft"].id, b["hidden"].id}
    assert s.search(None, "secret").total == 0
    assert s.search(None, "").total == 3


def test_facets_count_and_filters_combine(corpus):
    b, s = corpus["bids"], service()
    results = s.search(None, "")
    facets = {name: {f.value: f.count for f in values} for name, values in results.facets.items()}
    assert facets["location"] == {"Cardiff": 2, "Edinburgh": 1}
    assert facets["theme"] == {"Environment": 2, "Older people": 1, "Arts": 1}
    assert facets["status"] == {"submitted": 1, "awarded": 1, "draft": 1}
    assert facets["funder"] == {
        "National Lottery Community Fund": 2,
        "Esmée Fairbairn Foundation": 1,
    }
    assert facets["year"] == {"2023": 1, "2022": 1, "2021": 1}
    assert facets["band"] == {"0-10000": 1, "10000-50000": 1, "100000-500000": 1}

    filtered = s.search(None, "", SearchFilters(location=["Cardiff"], theme=["Environment"]))
    assert ids(filtered) == {b["orchard"].id}
    # a facet's own alternatives stay countable (OR within a field)
    loc = {f.value: (f.count, f.selected) for f in filtered.facets["location"]}
    assert loc == {"Cardiff": (1, True), "Edinburgh": (1, False)}
    either = s.search(None, "", SearchFilters(location=["Cardiff", "Edinburgh"]))
    assert either.total == 3
    assert ids(s.search(None, "", SearchFilters(band=["100000-500000"]))) == {b["theatre"].id}
    assert ids(s.search(None, "", SearchFilters(year=[2022]))) == {b["garden"].id}
    assert ids(s.search(None, "", SearchFilters(funder=["esmée fairbairn foundation"]))) == {
        b["orchard"].id
    }
    assert ids(s.search(None, "", SearchFilters(min_amount=10_000_00, max_amount=50_000_00))) == {
        b["orchard"].id
    }
    # drafts never leak into facet counts
    assert sum(f.count for f in s.search(None, "garden").facets["status"]) == 2
    assert sum(f.count for f in s.search(None, "").facets["status"]) == 3


def test_filters_from_args():
    from werkzeug.datastructures import MultiDict

    args = MultiDict(
        [
            ("theme", "Arts"),
            ("theme", "Health"),
            ("status", "Awarded"),
            ("year", "2022"),
            ("year", "x"),
            ("min_amount", "1,000.50"),
            ("band", "bogus"),
        ]
    )
    filters = filters_from_args(args)
    assert filters.theme == ["Arts", "Health"] and filters.status == ["awarded"]
    assert filters.year == [2022] and filters.min_amount == 100050 and filters.band == []
    with pytest.raises(ValueError):
        filters_from_args(MultiDict([("min_amount", "lots")]), strict=True)


def test_sorting_and_pagination(corpus):
    b, s = corpus["bids"], service()
    by_amount = s.search(None, "", sort="amount").bid_ids
    assert by_amount == [b["theatre"].id, b["orchard"].id, b["garden"].id]
    newest = s.search(None, "", sort="newest").bid_ids
    assert newest == [b["theatre"].id, b["orchard"].id, b["garden"].id]  # published order
    page1 = s.search(None, "", sort="amount", page=1, per_page=2)
    page2 = s.search(None, "", sort="amount", page=2, per_page=2)
    assert page1.total == page2.total == 3 and page1.pages == 2
    assert page1.bid_ids + page2.bid_ids == by_amount
    ranked = s.search(None, "garden community").bid_ids
    assert ranked[0] == b["garden"].id
    assert s.search(None, "garden", page=5).items == []


def test_snippets_are_escaped_and_marked(corpus):
    results = service().search(None, "families")
    snippet = str(results.items[0].snippet)
    assert "<mark>families</mark>" in snippet
    # cut from the body's plain text on both backends (raw HTML in Markdown is no text), escaped
    assert "<script>" not in snippet and "script" not in snippet


def backend() -> str:
    from flask import current_app

    return current_app.config["SEARCH_BACKEND"]


def test_did_you_mean_from_the_titles_words(corpus):
    results = service().search(None, "orcherd")
    assert results.total == 0
    assert results.corrected_query == "orchard"
    assert service().search(None, "orchard").corrected_query is None


def test_did_you_mean_never_spells_out_a_draft_or_hidden_bid(corpus, factory):
    """ "Secret" is only in a draft's title, "hidden" only in a moderated bid's: an outsider
    gets no suggestion (it suggested both); the draft's own organisation and an admin do."""
    member = factory.user(org=corpus["green"])
    assert service().search(None, "secrat").corrected_query is None
    assert service().search(None, "hiddan").corrected_query is None
    assert service().search(member, "secrat").corrected_query == "secret"
    assert service().search(corpus["admin"], "hiddan").corrected_query == "hidden"


def test_updates_and_deletes_reach_results(corpus, db):
    b, s = corpus["bids"], service()
    b["garden"].title = "Allotment for Leith"
    b["garden"].body = "Raised beds."
    db.session.commit()
    assert s.search(None, "allotment").bid_ids == [b["garden"].id]
    assert b["garden"].id not in ids(s.search(None, "shed"))
    db.session.delete(b["orchard"])
    db.session.commit()
    assert s.search(None, "orchard").total == 0
    assert s.search(None, "").total == 2


def test_two_funders_of_one_name_are_one_facet_value_on_both_backends(db, factory):
    """Facet values are names (a filter link selects by name): counted once, not per id."""
    from bids.models import OrgKind

    applicant = factory.org("Valley Makers")
    twins = [factory.org("Twin Fund", kind=OrgKind.FUNDER) for _ in range(2)]
    for twin in twins:
        bid = factory.bid(applicant, title=f"Workshop for {twin.id}")
        bid.funder_id = twin.id
        db.session.commit()
    funders = [(f.value, f.count) for f in service().search(None, "").facets["funder"]]
    assert funders == [("Twin Fund", 2)]


@pytest.mark.parametrize(
    ("typed", "written"), [("creche", "crèche"), ("crèches", "creche"), ("ecoles", "écoles")]
)
def test_a_word_with_or_without_its_accents_finds_the_other(db, factory, typed, written):
    """Accents are folded before stemming (as PostgreSQL's configuration does): stemmed first,
    "crèche" was indexed as "creche" while "creche" was looked up as "crech"."""
    bid = factory.bid(
        factory.org("Valley Makers"), title="Family hub", body=f"A {written} for the village."
    )
    assert service().search(None, typed).bid_ids == [bid.id]
