"""Home page and the paginated list of bids."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bids.database import utcnow
from bids.models import OrgKind
from bids.publishing import hide_bid


@pytest.fixture
def app_config():
    return {"BIDS_PER_PAGE": 2}


def test_empty_home_says_what_open_bids_is(client):
    page = client.get("/").get_data(as_text=True)
    assert "<h1>Grant bids, in the open</h1>" in page
    assert "public library of grant bids" in page
    assert "No bids are published yet." in page
    assert "£0" in page


def test_home_counts_featured_and_latest(client, db, factory):
    collective = factory.org("The Relationships Project", kind=OrgKind.COLLECTIVE)
    applicant = factory.org("Cardiff Food Bank")
    featured = factory.bid(
        collective,
        title="Relationships first",
        amount_requested="300000",
        summary="Putting relationships at the heart of public services.",
    )
    bids = [factory.bid(applicant, title=f"Pantry {i}", amount_requested="1000") for i in range(11)]
    factory.bid(applicant, title="Secret draft", published=False)
    # Newest first: the featured bid is the oldest, the first pantry the second oldest.
    now = utcnow()
    featured.published_at = now - timedelta(days=30)
    for i, bid in enumerate(bids):
        bid.published_at = now - timedelta(days=20 - i)
    db.session.commit()

    page = client.get("/").get_data(as_text=True)
    stats = re.sub(r"\s+", " ", page.split('class="stats"')[1].split("</ul>")[0])
    assert "<strong>12</strong> published bids" in stats
    assert "<strong>2</strong> organisations" in stats
    assert "<strong>1</strong> funders" in stats
    assert "<strong>£311,000</strong> requested in GBP" in stats

    featured_section = page.split('id="featured-heading"')[1].split("</section>")[0]
    assert "Relationships first" in featured_section
    assert "Putting relationships at the heart of public services." in featured_section

    latest = page.split('id="latest-heading"')[1]
    assert latest.count('class="card bid-card"') == 10
    assert "Pantry 10" in latest and "Pantry 1<" in latest
    assert "Pantry 0<" not in latest  # 11th newest: not among the latest 10
    assert "Secret draft" not in page


def test_bid_list_paginates_newest_first_with_full_cards(client, db, factory):
    org = factory.org("Highland Hub")
    titles = []
    for i in range(5):
        bid = factory.bid(
            org,
            title=f"Bid number {i}",
            programme="Awards for All",
            amount_requested="1250.50",
            currency="NOK",
            status="submitted",
            submitted_on="2024-02-0" + str(i + 1),
            themes=["Rural", "Youth"],
            funder="Highlands Trust",
        )
        bid.published_at = utcnow() - timedelta(hours=10 - i)
        titles.append(bid.title)
    db.session.commit()

    first = client.get("/bids/").get_data(as_text=True)
    assert "5 published bids" in first
    assert "Page 1 of 3" in first
    assert first.index("Bid number 4") < first.index("Bid number 3")
    assert "Bid number 2" not in first
    card = first.split('class="card bid-card"')[1]
    for expected in (
        "Highland Hub",
        "Highlands Trust",
        "Awards for All",
        "1,250.50 NOK",
        "submitted",
        "5 February 2024",
        ">Rural<",
        ">Youth<",
    ):
        assert expected in card, expected
    assert re.search(r'<a href="/bids/\d+">Bid number 4</a>', card)

    second = client.get("/bids/?page=2").get_data(as_text=True)
    assert "Bid number 2" in second and "Bid number 1" in second
    assert "Bid number 4" not in second
    assert 'rel="prev"' in second and 'rel="next"' in second
    assert client.get("/bids/?page=9").status_code == 404


def test_list_and_home_leave_out_drafts_and_hidden_bids(client, db, factory):
    org = factory.org("Moderated")
    factory.bid(org, title="Visible one")
    factory.bid(org, title="Draft one", published=False)
    hidden = factory.bid(org, title="Hidden one")
    hide_bid(factory.user(admin=True), hidden, "Spam")
    db.session.commit()
    for url in ("/", "/bids/"):
        page = client.get(url).get_data(as_text=True)
        assert "Visible one" in page
        assert "Draft one" not in page and "Hidden one" not in page


def test_cards_escape_user_text(client, factory):
    org = factory.org("<b>Org</b>")
    factory.bid(
        org,
        title="<script>alert(1)</script>",
        programme="<img src=x onerror=alert(2)>",
        themes=["<svg onload=alert(3)>"],
        funder="<i>Funder</i>",
    )
    for url in ("/", "/bids/"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page and "<svg" not in page
        assert "<b>Org</b>" not in page and "<i>Funder</i>" not in page
