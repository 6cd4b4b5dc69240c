"""Insights: a bid's year, the figures against counts worked out here, and every new route."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict

import pytest

from bids.insights import amount_bin, field_figures, success
from bids.models import Bid, OrgKind

# (applicant, funder, status, currency, requested, awarded, submitted_on, decided_on, themes,
# places)
ROWS = [
    (
        "Alpha",
        "North Fund",
        "awarded",
        "GBP",
        10000,
        9000,
        "2021-02-01",
        "2021-06-01",
        ["health"],
        ["Scotland"],
    ),
    (
        "Alpha",
        "North Fund",
        "declined",
        "GBP",
        20000,
        None,
        "2021-03-01",
        "2021-07-01",
        ["health"],
        ["Scotland"],
    ),
    (
        "Beta",
        "North Fund",
        "awarded",
        "GBP",
        50000,
        45000,
        "2022-01-10",
        "2022-05-01",
        ["arts"],
        ["North West", "England"],
    ),
    (
        "Beta",
        "North Fund",
        "awarded",
        "USD",
        3000,
        2500,
        None,
        "2022-09-01",
        ["arts", "health"],
        ["Ohio"],
    ),
    (
        "Gamma",
        "South Trust",
        "declined",
        "GBP",
        700,
        None,
        "2023-01-01",
        "2023-02-01",
        ["food"],
        ["Wales"],
    ),
    ("Gamma", "South Trust", "submitted", "GBP", 1500, None, "2023-04-01", None, [], []),
    ("Gamma", "South Trust", "withdrawn", "USD", 250000, None, None, None, ["food"], []),
]


@pytest.fixture
def world(factory, db):
    orgs = {name: factory.org(name) for name in ("Alpha", "Beta", "Gamma")}
    bids = []
    for org, funder, status, currency, req, awd, sub, dec, themes, places in ROWS:
        fields = {
            "funder": {"name": funder},
            "status": status,
            "currency": currency,
            "amount_requested": str(req),
            "themes": themes,
            "locations": places,
            "programme": "Main" if funder == "North Fund" else "",
        }
        if awd is not None:
            fields["amount_awarded"] = str(awd)
        if sub:
            fields["submitted_on"] = sub
        if dec:
            fields["decided_on"] = dec
        bids.append(factory.bid(orgs[org], **fields))
    draft = factory.bid(
        orgs["Alpha"],
        published=False,
        amount_requested="999999",
        funder={"name": "North Fund"},
        status="awarded",
        amount_awarded="999999",
        submitted_on="2021-01-01",
    )
    return {"orgs": orgs, "bids": bids, "draft": draft}


def _expected_year(row) -> str | None:
    when = row[6] or row[7]
    return when[:4] if when else None


# --- the year of a bid --------------------------------------------------------------------


def test_year_is_submitted_else_decided_never_published(world, db):
    years = [b.year for b in world["bids"]]
    assert years == [int(y) if y else None for y in map(_expected_year, ROWS)]
    undated = world["bids"][-1]
    assert undated.published_at is not None and undated.year is None


def test_search_year_facet_uses_the_same_year(world, app):
    from search_index.service import get_search_service

    facets = get_search_service().search(None, "").facets
    counts = {f.value: f.count for f in facets["year"]}
    expected = Counter(y for y in map(_expected_year, ROWS) if y)
    assert counts == dict(expected)
    assert (
        str(world["bids"][0].published_at.year) not in counts
        or counts[str(world["bids"][0].published_at.year)]
        == expected[str(world["bids"][0].published_at.year)]
    )


def test_bid_page_shows_submitted_and_decided_dates(world, client):
    page = client.get(f"/bids/{world['bids'][0].id}").get_data(as_text=True)
    assert "1 February 2021" in page and "1 June 2021" in page


# --- figures against independent counts ---------------------------------------------------


def test_figures_match_counts_worked_out_here(world, app):
    figures = field_figures(min_decided=2)
    assert figures["totals"]["bids"] == len(ROWS)  # the draft is not counted
    assert figures["totals"]["organisations"] == 3
    assert figures["totals"]["funders"] == 2

    per_year: dict[str, Counter] = defaultdict(Counter)
    for row in ROWS:
        if _expected_year(row):
            per_year[_expected_year(row)][row[2]] += 1
    assert {y["year"]: y["outcomes"] for y in figures["years"]} == {
        y: dict(c) for y, c in per_year.items()
    }
    assert figures["undated"]["bids"] == sum(1 for r in ROWS if not _expected_year(r))

    for row in figures["funders"]:
        mine = [r for r in ROWS if r[1] == row["funder"]["name"]]
        awarded = sum(r[2] == "awarded" for r in mine)
        decided = sum(r[2] in ("awarded", "declined") for r in mine)
        assert (row["bids"], row["awarded"], row["decided"]) == (len(mine), awarded, decided)
        assert row["success_rate"] == (round(awarded / decided, 4) if decided >= 2 else None)


def test_success_rate_needs_the_minimum_decided(world, app):
    # North Fund: 3 awarded of 4 decided; South Trust: 0 of 1 decided (withdrawn, pending don't
    # count).
    rates = {
        r["funder"]["name"]: r["success_rate"] for r in field_figures(min_decided=2)["funders"]
    }
    assert rates == {"North Fund": 0.75, "South Trust": None}
    rates = {
        r["funder"]["name"]: r["success_rate"] for r in field_figures(min_decided=1)["funders"]
    }
    assert rates == {"North Fund": 0.75, "South Trust": 0.0}
    assert field_figures(min_decided=5)["funders"][0]["success_rate"] is None
    assert success(0, 0, 1) is None


def test_currencies_are_never_added_together(world, app):
    money = field_figures()["totals"]["currencies"]
    for currency in ("GBP", "USD"):
        mine = [r for r in ROWS if r[3] == currency]
        assert money[currency]["bids"] == len(mine)
        assert money[currency]["requested_total"] == sum(r[4] for r in mine)
        assert money[currency]["awarded_total"] == sum(
            r[5] for r in mine if r[5] is not None and r[2] == "awarded"
        )
    assert set(money) == {"GBP", "USD"}


def test_typical_award_is_median_and_quartiles_per_currency(world, app):
    north = next(r for r in field_figures()["funders"] if r["funder"]["name"] == "North Fund")
    gbp = sorted(r[5] for r in ROWS if r[1] == "North Fund" and r[3] == "GBP" and r[5])
    q1, median, q3 = statistics.quantiles(gbp, n=4, method="inclusive")
    assert north["typical_award"]["GBP"] == {"n": 2, "q1": q1, "median": median, "q3": q3}
    assert north["typical_award"]["USD"] == {"n": 1, "q1": 2500, "median": 2500, "q3": 2500}


def test_amount_bins_themes_and_places(world, app):
    figures = field_figures()
    for currency, bins in figures["amounts_requested"].items():
        expected = Counter(amount_bin(r[4] * 100) for r in ROWS if r[3] == currency)
        assert {b["bin"]: b["bids"] for b in bins if b["bids"]} == dict(expected)
    themes = Counter(t for r in ROWS for t in r[8])
    assert {t["name"]: t["bids"] for t in figures["themes"]} == dict(themes)
    places = Counter(p for r in ROWS for p in r[9])
    assert {p["name"]: p["bids"] for p in figures["locations"]} == dict(places)


def test_figures_of_a_subset_count_only_it(world, app):
    ids = {b.id for b in world["bids"] if b.funder.name == "South Trust"} | {world["draft"].id}
    figures = field_figures(ids, min_decided=1)
    assert figures["totals"]["bids"] == 3  # the draft's id is ignored
    assert [f["funder"]["name"] for f in figures["funders"]] == ["South Trust"]


def test_subsets_larger_than_a_chunk_are_merged(world, app, monkeypatch):
    import bids.insights

    whole = field_figures({b.id for b in world["bids"]})
    monkeypatch.setattr(bids.insights, "CHUNK", 2)
    assert field_figures({b.id for b in world["bids"]}) == whole


# --- the web page, CSVs and the API -------------------------------------------------------


def test_insights_page_shows_charts_tables_and_csv_links(world, client):
    page = client.get("/insights").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page
    assert "Bids by year of submission (or decision), 2021 to 2023" in page
    assert "<details" in page and "/insights/years.csv" in page
    assert "<script" not in page.split("<main", 1)[1]
    assert 'class="tile r1 c3 level-' in page  # Wales on the nations' grid
    assert "Ohio" in page  # other places as a list


def test_insights_follow_the_search(world, client):
    data = client.get("/api/v1/insights?q=theme:food").get_json()
    assert data["totals"]["bids"] == 2
    data = client.get("/api/v1/insights?funder=North%20Fund&year=2021").get_json()
    assert data["totals"]["bids"] == 2 and data["totals"]["decided"] == 2
    page = client.get("/insights?q=theme:food").get_data(as_text=True)
    assert "Gamma" in page and "Beta</th>" not in page


def test_search_page_links_its_results_as_charts(world, client):
    page = client.get("/search?q=health").get_data(as_text=True)
    assert 'href="/insights?q=health"' in page


def test_chart_csv_has_the_table(world, client):
    response = client.get("/insights/years.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "Year" and [r[0] for r in rows[1:]] == ["2021", "2022", "2023"]
    assert rows[1][-1] == "2"


@pytest.mark.parametrize(
    "url",
    [
        "/insights?year=abc",
        "/insights?status=nope",
        "/insights?min_amount=lots",
        "/insights/years.csv?year=x",
        "/api/v1/insights?year=99999",
        "/insights?q=" + "a" * 1001,
    ],
)
def test_bad_parameters_are_400(world, client, url):
    assert client.get(url).status_code == 400


def test_unknown_chart_is_404(world, client):
    assert client.get("/insights/nothing.csv").status_code == 404


def test_api_insights_matches_the_domain(world, client, app):
    data = client.get("/api/v1/insights").get_json()
    assert (
        data["totals"]
        == field_figures(min_decided=app.config.get("INSIGHTS_MIN_DECIDED", 5))["totals"]
    )


def test_profiles(world, client, factory):
    alpha = world["orgs"]["Alpha"]
    page = client.get(f"/orgs/{alpha.slug}/profile").get_data(as_text=True)
    assert "Bids sent" in page and "Fellow travellers" in page
    funder = Bid.query.filter_by(id=world["bids"][0].id).one().funder
    page = client.get(f"/orgs/{funder.slug}/profile").get_data(as_text=True)
    assert "Bids received" in page and "Co-funders" in page
    data = client.get(f"/api/v1/organisations/{funder.id}/profile").get_json()
    assert data["received"]["totals"]["bids"] == 4
    assert data["sent"] is None
    lonely = factory.org("Nobody Yet", kind=OrgKind.APPLICANT)
    assert client.get(f"/orgs/{lonely.slug}/profile").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/orgs/no-such-org/profile",
        "/api/v1/organisations/424242/profile",
        "/api/v1/organisations/99999999999999999999999/profile",
    ],
)
def test_unknown_organisation_is_404(world, client, url):
    assert client.get(url).status_code == 404


def test_profile_bad_depth_is_400(world, client):
    slug = world["orgs"]["Alpha"].slug
    assert client.get(f"/orgs/{slug}/profile?depth=7").status_code == 400
    assert client.get(f"/orgs/{slug}/profile?depth=2").status_code == 200


def test_co_funders_by_shared_applicants(factory, db):
    from bids.insights import co_funders_by_applicants

    a, b = factory.org("Applicant A"), factory.org("Applicant B")
    for org, funders in ((a, ["F1", "F2", "F3"]), (b, ["F1", "F2"])):
        for name in funders:
            factory.bid(org, funder={"name": name})
    f1 = Bid.query.filter(Bid.organisation_id == a.id).first().funder
    rows = co_funders_by_applicants(f1.id)
    assert [(r["funder"]["name"], r["shared_applicants"]) for r in rows] == [("F2", 2), ("F3", 1)]


def test_api_year_filter_uses_submitted_else_decided(world, client):
    decided_only = world["bids"][3]  # no submission date, decided in 2022
    titles = [i["title"] for i in client.get("/api/v1/bids?year=2022").get_json()["items"]]
    assert decided_only.title in titles
    year = world["bids"][-1].published_at.year
    titles = [i["title"] for i in client.get(f"/api/v1/bids?year={year}").get_json()["items"]]
    assert world["bids"][-1].title not in titles


def test_tag_counts_from_the_index_match_the_database(world, app):
    from bids.insights import Scope, tag_counts
    from search_index.filters import SearchFilters as Filters
    from search_index.selection import matching_bids

    assert matching_bids("", Filters())[1] == tag_counts(None)
    gamma = world["orgs"]["Gamma"]
    assert matching_bids("", Filters(organisation_ids={gamma.id}))[1] == tag_counts(
        Scope(Bid.organisation_id == gamma.id)
    )
    assert field_figures(Scope(Bid.organisation_id == gamma.id)) == field_figures(
        {b.id for b in world["bids"] if b.organisation_id == gamma.id}
    )


def test_count_axes_mark_whole_numbers_only():
    """Left to itself pygal marked a top count of 2 as 0, 0.2, 0.4 ... bids."""
    import base64
    import re

    from portal.insights.charts import _top_chart

    chart = _top_chart("organisations", "Top organisations", "organisations", [("A", 2), ("B", 1)])
    assert chart.svg is not None
    svg = base64.b64decode(chart.svg.split(",", 1)[1]).decode()
    values = set(re.findall(r">(\d+(?:\.\d+)?)</text>", svg))  # the axis' marks
    assert {"0", "1", "2"} <= values
    assert not [v for v in values if "." in v], values
