"""In Chromium: search from the header, open a facet, page on, download the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "BIDS_PER_PAGE": 2}


def test_search_facet_page_and_csv(live_server, page: Page, factory):
    org = factory.org("Coastal Trust")
    for n, place in enumerate(["Cardiff", "Cardiff", "Cardiff", "Swansea"]):
        factory.bid(
            org,
            title=f"Seaside garden {n}",
            body="A garden by the sea.",
            locations=[place],
            amount_requested=str(1000 * (n + 1)),
        )
    factory.bid(org, title="Harbour lights", body="Lamps on the pier.")

    page.goto(live_server.url + "/")
    page.get_by_role("search").first.get_by_role("searchbox").fill("garden")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Search bids")
    expect(page.locator(".results-total")).to_contain_text("4 results")

    page.get_by_role("link", name="Cardiff").click()
    expect(page.locator(".results-total")).to_contain_text("3 results")
    expect(page.get_by_role("link", name="Remove filter Location: Cardiff")).to_be_visible()
    expect(page.locator(".search-results li")).to_have_count(2)

    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.locator(".search-results li")).to_have_count(1)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    path = download_info.value.path()
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["title"] for r in rows) == [
        "Seaside garden 0",
        "Seaside garden 1",
        "Seaside garden 2",
    ]
