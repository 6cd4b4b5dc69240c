"""In Chromium, with CSRF on: paste a draft that overlaps a demo bid on /check, see it, compare."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from bids.demo_content import BIDS

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_draft_check_finds_a_demo_bid_and_opens_the_comparison(app, live_server, page: Page):
    from bids.database import db
    from bids.demo import seed_demo
    from bids.models import Bid

    seed_demo()
    bids_before = db.session.scalar(select(func.count(Bid.id)))
    target = next(b for b in BIDS if b["title"].startswith("Tea and Talk: befriending"))
    draft = " ".join(target["body"].split()[:150])

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Check a draft").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check before you submit")
    page.get_by_label("Working title (optional)").fill("Our befriending idea")
    page.get_by_label("Paste your draft").fill(draft)
    page.get_by_role("button", name="Check for overlaps").click()

    results = page.locator("ol.overlaps > li")
    expect(results.first).to_contain_text(target["title"])
    expect(results.first).to_contain_text("near-duplicate text")
    results.first.get_by_role("button", name="Compare side by side").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Compare bids")
    expect(page.get_by_role("heading", name="Our befriending idea")).to_be_visible()
    expect(page.get_by_role("heading", name=target["title"])).to_be_visible()
    assert page.locator(".compare-text mark").count() >= 2
    db.session.remove()
    assert db.session.scalar(select(func.count(Bid.id))) == bids_before  # nothing was stored
