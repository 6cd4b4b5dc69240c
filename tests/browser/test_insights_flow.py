"""In Chromium: from a search open its insights, read a chart's table, open the network map,
follow a node to a profile and see its fellow travellers; axe-core finds no serious problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict]:
    """Serious and critical axe-core violations of the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def seeded(app):
    from bids.demo import seed_demo

    seed_demo()


def test_from_search_to_insights_network_and_a_profile(seeded, live_server, page: Page):
    page.goto(f"{live_server.url}/search?q=relational")
    page.get_by_role("link", name="these results as charts").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Insights")
    expect(page.get_by_role("img", name="Bids by year")).to_be_visible()

    page.get_by_text("Bids per year by outcome: the numbers as a table").click()
    table = page.locator("#chart-years + details table")
    expect(table).to_be_visible()
    header = table.locator("thead th").all_inner_texts()
    assert header[0] == "Year" and header[-1] == "Total"
    first_year = table.locator("tbody tr").first.locator("th").inner_text()
    assert first_year.isdigit() and 1990 < int(first_year) < 2100

    page.get_by_role("link", name="These bids as a network map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The field as a network")
    node = page.locator('svg.network-map a[href="/orgs/the-relationships-project/profile"]')
    expect(node).to_have_count(1)
    node.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("The Relationships Project: profile")
    expect(page.get_by_role("heading", name="Fellow travellers")).to_be_visible()
    fellows = page.locator("ol.fellow-travellers > li")
    assert fellows.count() >= 1
    expect(fellows.first.get_by_role("link", name="Compare the closest bids")).to_be_visible()


def test_insights_pages_have_no_serious_accessibility_violations(
    seeded, live_server, browser: Browser
):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make axe` (npm install axe-core).")
    # The CSP (script-src 'self') would refuse the injected axe script; the check needs it.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    found = {}
    for path in (
        "/insights",
        "/insights?q=relational",
        "/network",
        "/network?community=1",
        "/orgs/the-relationships-project/profile",
        "/orgs/the-national-lottery-community-fund/profile",
    ):
        page.goto(f"{live_server.url}{path}")
        page.locator("details").evaluate_all("els => els.forEach(e => e.open = true)")
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    context.close()
    assert found == {}
