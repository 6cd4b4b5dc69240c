"""In Chromium, with CSRF on: sign up, create an organisation, publish a bid with Markdown and a
real PDF, revise it, compare revisions, record the outcome; an anonymous visitor reads it and
gets 404 for a draft."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def fill_bid(page: Page, title: str, body: str) -> None:
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Summary", exact=True).fill("Warm rooms and company through the winter.")
    page.get_by_label("Bid text (Markdown)").fill(body)
    page.get_by_label("Funder", exact=True).fill("National Lottery Community Fund")
    page.get_by_label("Programme", exact=True).fill("Awards for All Wales")
    page.get_by_label("Amount requested", exact=True).fill("18500")
    page.get_by_label("Duration in months").fill("12")
    page.get_by_label("Submitted on").fill("2024-09-01")
    page.get_by_label("Themes", exact=True).fill("warmth; loneliness")
    page.get_by_label("Locations", exact=True).fill("Wales")


def test_publish_revise_compare_and_decide(live_server, page: Page, browser, shared_data):
    base = live_server.url
    pdf = shared_data / "pdfs" / "barker_michelle_2020.pdf"

    # Sign up and create an organisation.
    page.goto(f"{base}/signup")
    page.get_by_label("Your name").fill("Bronwen Writer")
    page.get_by_label("Email address").fill("bronwen@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.goto(f"{base}/orgs/new")
    page.get_by_label("Name", exact=True).fill("Wrexham Warmth")
    page.get_by_label("Kind").select_option("applicant")
    page.get_by_role("button", name="Create organisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wrexham Warmth")

    # Write a bid, preview the Markdown (server-rendered), then publish.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Publish a bid").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish a bid")
    body = "## Why we need this\n\nMany people are **cold** and alone.\n\n- warm rooms\n- company"
    fill_bid(page, "Warm spaces in Wrexham", body)
    # With JavaScript, a live preview follows the typing (bids.js); without it, the button.
    live = page.get_by_role("region", name="Live preview of the bid text")
    expect(live.get_by_role("heading", name="Why we need this")).to_be_visible()
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview of the bid text", exact=True)
    expect(preview.get_by_role("heading", name="Why we need this")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("cold")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Warm spaces in Wrexham")
    page.get_by_role("button", name="Publish").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Warm spaces in Wrexham")
    expect(page.get_by_text("Your bid is published.")).to_be_visible()
    expect(page.locator("article").get_by_role("heading", name="Why we need this")).to_be_visible()
    expect(page.locator("aside")).to_contain_text("£18,500")
    bid_url = page.url
    assert re.fullmatch(rf"{re.escape(base)}/bids/\d+", bid_url)

    # Attach the real proposal PDF on the edit page.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("PDF file").set_input_files(str(pdf))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash")).to_contain_text("is attached", timeout=30_000)

    # The organisation page lists it.
    page.goto(bid_url)
    page.locator("aside").get_by_role("link", name="Wrexham Warmth").click()
    expect(page.get_by_role("link", name="Warm spaces in Wrexham")).to_be_visible()

    # Revise it.
    page.goto(bid_url)
    attachment = page.locator("ul.attachments a")
    expect(attachment).to_have_text(re.compile(r"barker_michelle_2020\.pdf"))
    expect(page.locator("ul.attachments")).to_contain_text("pages")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Title", exact=True).fill("Warm spaces across Wrexham")
    page.get_by_label("What changed (optional)").fill("Wider area")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Warm spaces across Wrexham")

    # Compare the last two revisions.
    page.get_by_role("link", name=re.compile(r"^\d+ revisions$")).click()
    expect(page.get_by_role("cell", name="Wider area")).to_be_visible()
    page.get_by_role("button", name="Compare").click()
    title_change = page.locator("section.change", has=page.get_by_role("heading", name="Title"))
    expect(title_change.locator("del")).to_have_text("in")
    expect(title_change.locator("ins")).to_have_text("across")

    # Record the outcome.
    page.goto(bid_url)
    page.get_by_role("link", name="Record outcome").click()
    page.get_by_label("Outcome").select_option("awarded")
    page.get_by_label("Amount awarded").fill("15000")
    page.get_by_label("Decided on").fill("2024-12-01")
    page.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_text("Outcome recorded: awarded.")).to_be_visible()
    expect(page.locator("aside")).to_contain_text("£15,000")

    # A private draft, for the anonymous check.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Publish a bid").click()
    fill_bid(page, "Unfinished idea", "Not ready yet.")
    page.get_by_role("button", name="Save as private draft").click()
    expect(page.get_by_text("Draft: only your organisation can see this.")).to_be_visible()
    draft_url = page.url

    # An anonymous visitor, in a separate context with no cookies.
    visitor_context = browser.new_context()
    try:
        visitor = visitor_context.new_page()
        visitor.goto(bid_url)
        expect(visitor.get_by_role("heading", level=1)).to_have_text("Warm spaces across Wrexham")
        expect(visitor.locator("aside")).to_contain_text("Awarded")
        expect(visitor.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
        expect(visitor.locator("ul.attachments a")).to_have_count(1)
        response = visitor.goto(draft_url)
        assert response is not None and response.status == 404
        expect(visitor.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(visitor.get_by_text("Unfinished idea")).to_have_count(0)
    finally:
        visitor_context.close()
