"""In Chromium, with CSRF on: sign up, create an organisation, invite a colleague who joins."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def sign_up(page: Page, base: str, name: str, email: str, via: str | None = None) -> None:
    if via is None:
        page.goto(f"{base}/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def test_owner_invites_a_colleague_who_joins(live_server, page: Page, browser):
    base = live_server.url
    sign_up(page, base, "Olu Owner", "olu@example.org")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    page.get_by_role("link", name="Create an organisation").first.click()
    page.get_by_label("Name", exact=True).fill("Valleys Youth Trust")
    page.get_by_label("Kind").select_option("applicant")
    page.get_by_label("Organisation identifier (optional)").fill("GB-CHC-1164883")
    page.get_by_label("Wales", exact=True).check()
    page.get_by_role("button", name="Create organisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Valleys Youth Trust")
    expect(page.get_by_text("GB-CHC-1164883")).to_be_visible()

    page.get_by_role("link", name="Members").click()
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("input[id^=invitation-]").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/orgs/join/[\w-]+", link)

    # A colleague in a separate browser context (no shared cookies) follows the link.
    other = browser.new_context()
    try:
        colleague = other.new_page()
        colleague.goto(link)
        expect(colleague.get_by_role("heading", level=1)).to_have_text("Join Valleys Youth Trust")
        colleague.locator("#main").get_by_role("link", name="Sign up").click()
        sign_up(colleague, base, "Cat Colleague", "cat@example.org", via=link)
        colleague.get_by_role("button", name="Accept and join Valleys Youth Trust").click()
        expect(colleague.get_by_role("heading", level=1)).to_have_text("Valleys Youth Trust")
        expect(colleague.get_by_text("you are now editor")).to_be_visible()
    finally:
        other.close()

    page.reload()
    expect(page.get_by_role("cell", name="Cat Colleague", exact=True)).to_be_visible()
    expect(page.locator("input[id^=invitation-]")).to_have_count(0)  # used up

    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
