"""The search page, `GET /api/v1/bids?q=` and the streamed exports."""

from __future__ import annotations

import csv
import io
import json

from bids.accounts import create_api_token


def test_search_page_results_facets_and_links(client, corpus):
    b = corpus["bids"]
    page = client.get("/search?q=garden").get_data(as_text=True)
    assert "2 results" in page
    assert b["garden"].title in page and b["orchard"].title in page
    assert b["draft"].title not in page and b["hidden"].title not in page
    assert "<mark>garden</mark>" in page
    assert 'href="/search?q=garden&amp;location=Cardiff"' in page  # a facet link
    assert "/search/export.csv?q=garden" in page
    assert page.count("<h1") == 1


def test_facet_links_combine_and_remove(client, corpus):
    b = corpus["bids"]
    page = client.get("/search?q=&location=Cardiff&theme=Environment").get_data(as_text=True)
    assert "1 result" in page and b["orchard"].title in page and b["theatre"].title not in page
    # the remove link drops only that filter
    assert 'href="/search?q=&amp;theme=Environment"' in page
    assert "Clear all filters" in page


def test_search_page_escapes_and_falls_back(client, corpus):
    page = client.get("/search?q=<script>alert(1)</script> year:nope").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "searched for its words instead" in page


def test_did_you_mean_and_paging(client, corpus, app):
    page = client.get("/search?q=orcherd").get_data(as_text=True)
    assert "Did you mean" in page and "q=orchard" in page and "0 results" in page
    app.config["BIDS_PER_PAGE"] = 2
    first = client.get("/search?sort=amount").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'rel="next" href="/search?sort=amount&amp;page=2"' in first
    second = client.get("/search?sort=amount&page=2").get_data(as_text=True)
    assert corpus["bids"]["garden"].title in second
    assert client.get("/search?page=abc").status_code == 200


def test_member_finds_own_draft_on_the_page(client, auth, corpus, factory):
    factory.user("member@example.org", org=corpus["green"])
    auth.login("member@example.org")
    page = client.get("/search?q=garden").get_data(as_text=True)
    assert corpus["bids"]["draft"].title in page and "private draft" in page


def test_api_search_ranked_with_highlights_and_facets(client, corpus):
    b = corpus["bids"]
    data = client.get("/api/v1/bids?q=garden community").get_json()
    assert data["items"][0]["id"] == b["garden"].id
    assert data["total"] == 2  # both say "community" (the factory summary); garden ranks first
    assert any("<mark>" in h for h in data["items"][0]["highlights"])
    assert {"value": "Edinburgh", "count": 1} in data["facets"]["location"]
    data = client.get("/api/v1/bids?theme=Environment&sort=amount&min_amount=1000").get_json()
    assert [i["id"] for i in data["items"]] == [b["orchard"].id, b["garden"].id]
    data = client.get("/api/v1/bids?q=garden&funder=esm%C3%A9e%20fairbairn%20foundation").get_json()
    assert [i["id"] for i in data["items"]] == [b["orchard"].id]
    assert client.get("/api/v1/bids?q=x&min_amount=lots").status_code == 400
    assert client.get("/api/v1/bids?q=x&sort=sideways").status_code == 400


def test_api_search_respects_tokens(client, corpus, factory, db):
    member = factory.user("member@example.org", org=corpus["green"])
    _, secret = create_api_token(member, "t")
    db.session.commit()
    anonymous = client.get("/api/v1/bids?q=garden").get_json()
    assert corpus["bids"]["draft"].id not in [i["id"] for i in anonymous["items"]]
    mine = client.get(
        "/api/v1/bids?q=garden", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    assert corpus["bids"]["draft"].id in [i["id"] for i in mine["items"]]


def test_exports_stream_exactly_the_filtered_results(client, corpus):
    b = corpus["bids"]
    response = client.get("/api/v1/export.csv?q=garden&location=Cardiff")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.was_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [int(r["id"]) for r in rows] == [b["orchard"].id]
    assert rows[0]["funder"] == "Esmée Fairbairn Foundation"
    everything = client.get("/api/v1/export.json?sort=amount").get_data(as_text=True)
    items = json.loads(everything)["items"]
    assert [i["id"] for i in items] == [b["theatre"].id, b["orchard"].id, b["garden"].id]
    assert items[0]["locations"] == ["Cardiff"]


def test_search_page_downloads_include_a_members_drafts_and_the_api_ignores_cookies(
    client, auth, corpus, factory
):
    b = corpus["bids"]
    factory.user("grower@example.org", org=corpus["green"])

    def exported(url: str) -> set[int]:
        text = client.get(url).get_data(as_text=True).lstrip("\ufeff")
        return {int(r["id"]) for r in csv.DictReader(io.StringIO(text))}

    public = {b["garden"].id, b["orchard"].id}
    assert exported("/search/export.csv?q=garden") == public
    auth.login("grower@example.org")
    page = client.get("/search?q=garden").get_data(as_text=True)
    assert b["draft"].title in page and "/search/export.csv?q=garden" in page
    assert exported("/search/export.csv?q=garden") == public | {b["draft"].id}
    items = json.loads(client.get("/search/export.json?q=garden").get_data(as_text=True))["items"]
    assert {i["id"] for i in items} == public | {b["draft"].id}
    # The API authenticates by token only: a session cookie shows it nothing more.
    assert exported("/api/v1/export.csv?q=garden") == public
    assert client.get("/search/export.xml?q=garden").status_code == 404


def test_csv_export_neutralises_formulas(client, factory):
    org = factory.org("=HYPERLINK(1)")
    factory.bid(org, title="=cmd|' /C calc'!A0", body="formula")
    text = client.get("/api/v1/export.csv?q=formula").get_data(as_text=True)
    assert "'=cmd" in text and "'=HYPERLINK" in text
