"""In Chromium, with CSRF on: two funders in a pool share a cluster and a pledge; two writers meet.

Funder One pledges to an overlap cluster and Funder Two, signed in separately, sees the
same cluster and that pledge. A writer proposes an introduction from the overlap; the other
organisation's writer finds it in the inbox, accepts, and both see each other's contact details.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from bids.models import OrgKind
from bids.pools import services
from search_index.clusters import refresh_clusters
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def world(db, factory):
    f1 = factory.org("Coastal Communities Fund", kind=OrgKind.FUNDER)
    f2 = factory.org("Highland Trust", kind=OrgKind.FUNDER)
    a, b = factory.org("Neighbours Together"), factory.org("Street Friends Network")
    one = factory.user("one@example.org", "Fran Funder", org=f1)
    two = factory.user("two@example.org", "Hamish Highland", org=f2)
    factory.user("writer-a@example.org", "Wren Writer", org=a)
    factory.user("writer-b@example.org", "Bea Builder", org=b)
    pool = services.create_pool(one, f1, {"name": "Loneliness Pool", "themes": "loneliness"})
    services.respond_to_invitation(two, services.invite_funder(one, pool, f2).id, True)
    bid_a = factory.bid(
        a,
        title="Neighbours against loneliness",
        funder={"name": f1.name},
        amount_requested="120000",
        status="submitted",
    )
    bid_b = factory.bid(
        b,
        title="Street friends for older people",
        funder={"name": f2.name},
        amount_requested="180000",
        status="submitted",
    )
    refresh_clusters([(bid_a.id, bid_b.id, 0.72)])
    db.session.commit()
    return {"pool_id": pool.id, "cluster_id": min(bid_a.id, bid_b.id)}


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def in_new_context(browser: Browser, base: str, email: str):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, email)
    return context, page


def test_funders_share_a_cluster_and_a_pledge(live_server, page: Page, browser, world):
    base = live_server.url
    cluster_title = f"Overlap cluster {world['cluster_id']}"
    sign_in(page, base, "one@example.org")
    page.get_by_role("link", name="Pools").click()
    page.get_by_role("link", name="Loneliness Pool").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Loneliness Pool")
    page.get_by_role("link", name=cluster_title).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(cluster_title)
    expect(page.locator(".co-funding")).to_contain_text("No pledges yet.")
    page.get_by_label("Amount (leave empty to mark interest)").fill("50000")
    page.get_by_label("Note to other members (optional)").fill("We could carry the Welsh half.")
    page.get_by_role("button", name="Pledge").click()
    expect(page.get_by_text("Pledge recorded")).to_be_visible()

    context, other = in_new_context(browser, base, "two@example.org")
    try:
        other.goto(f"{base}/pools/{world['pool_id']}")
        other.get_by_role("link", name=cluster_title).first.click()
        pledges = other.locator("ul.pledges")
        expect(pledges).to_contain_text("Coastal Communities Fund")
        expect(pledges).to_contain_text("£50,000")
        expect(pledges).to_contain_text("We could carry the Welsh half.")
        expect(other.locator(".co-funding")).to_contain_text("1 funder")
        # Only the pledging member may withdraw it.
        expect(pledges.get_by_role("button", name="Withdraw")).to_have_count(0)
        # The inbox counts the pledge notice.
        expect(other.locator("header").get_by_text("unread")).to_have_count(1)
    finally:
        context.close()


def test_writer_proposes_an_introduction_the_other_accepts(live_server, page: Page, browser, world):
    base = live_server.url
    sign_in(page, base, "writer-a@example.org")
    page.get_by_role("link", name="Pools").click()
    page.get_by_role("link", name="Overlaps with my organisation's bids").click()
    page.get_by_role("link", name="Propose an introduction to Street Friends Network").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Propose an introduction")
    page.get_by_label("Why these organisations should talk").fill("Same streets, same people.")
    page.get_by_role("button", name="Propose the introduction").click()
    expect(
        page.get_by_text("Contact details appear here once both organisations accept.")
    ).to_be_visible()
    expect(page.get_by_text("writer-b@example.org")).to_have_count(0)

    context, other = in_new_context(browser, base, "writer-b@example.org")
    try:
        other.get_by_role("link", name="Inbox").click()
        other.get_by_role("link", name="Wren Writer proposed introducing").click()
        expect(other.get_by_text("Same streets, same people.")).to_be_visible()
        expect(other.get_by_text("writer-a@example.org")).to_have_count(0)
        other.get_by_role("button", name="Accept and share my contact details").click()
        expect(other.get_by_text("Introduction accepted.")).to_be_visible()
        contacts = other.locator("ul.contacts")
        expect(contacts).to_contain_text("Wren Writer")
        expect(contacts).to_contain_text("writer-a@example.org")
        expect(contacts).to_contain_text("writer-b@example.org")
    finally:
        context.close()

    page.reload()
    expect(page.locator("ul.contacts")).to_contain_text("Bea Builder, writer-b@example.org")
