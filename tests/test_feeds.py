"""Atom feeds parse as valid Atom and list only public bids; sitemap.xml and robots.txt."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import feedparser
import pytest
from markupsafe import escape
from sqlalchemy import select

from bids.demo import seed_demo
from bids.models import Bid, Organisation, Visibility


@pytest.fixture
def demo(app):
    seed_demo()


def parsed(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.get_data())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def public_ids(db) -> set[int]:
    return set(
        db.session.scalars(
            select(Bid.id).where(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))
        )
    )


def entry_ids(feed) -> set[int]:
    return {int(re.search(r"/bids/(\d+)", e.link)[1]) for e in feed.entries}


def test_site_feed_lists_public_bids_newest_first(demo, db, client):
    feed = parsed(client, "/feeds/bids.atom")
    assert feed.entries and entry_ids(feed) <= public_ids(db)
    draft = db.session.scalar(select(Bid).where(Bid.visibility == Visibility.DRAFT))
    assert draft is not None and draft.id not in entry_ids(feed)
    updated = [e.updated_parsed for e in feed.entries]
    assert updated == sorted(updated, reverse=True)


def test_organisation_and_funder_feeds(demo, db, client):
    bid = db.session.scalar(
        select(Bid).where(Bid.visibility == Visibility.PUBLISHED, Bid.funder_id.is_not(None))
    )
    org_feed = parsed(client, f"/feeds/orgs/{bid.organisation.slug}.atom")
    assert bid.id in entry_ids(org_feed)
    assert all(e.author == bid.organisation.name for e in org_feed.entries)
    funder_feed = parsed(client, f"/feeds/funders/{bid.funder.slug}.atom")
    assert bid.id in entry_ids(funder_feed)
    assert client.get("/feeds/orgs/no-such-organisation.atom").status_code == 404


def test_search_page_declares_its_feed_and_the_feed_follows_the_query(demo, db, client):
    page = client.get("/search?q=community&status=awarded").get_data(as_text=True)
    match = re.search(
        r'<link rel="alternate" type="application/atom\+xml" '
        r'title="Atom feed of this search" href="([^"]+)"',
        page,
    )
    assert match and "q=community" in match[1] and "status=awarded" in match[1]
    feed = parsed(client, match[1].replace("&amp;", "&"))
    found = client.get("/api/v1/bids?q=community&status=awarded&per_page=100").get_json()
    everything = parsed(client, "/feeds/bids.atom")
    assert feed.entries and len(feed.entries) < len(everything.entries)
    assert entry_ids(feed) == {item["id"] for item in found["items"]}
    assert client.get("/feeds/search.atom?status=nonsense").status_code == 400


def test_sitemap_and_robots(demo, db, client):
    response = client.get("/sitemap.xml")
    root = ET.fromstring(response.get_data())
    locs = [e.text for e in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    bid_ids = {int(m[1]) for loc in locs if (m := re.search(r"/bids/(\d+)$", loc))}
    assert bid_ids == public_ids(db)
    slugs = set(db.session.scalars(select(Organisation.slug)))
    assert any(loc.rsplit("/", 1)[-1] in slugs for loc in locs if "/orgs/" in loc)
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in robots and "Disallow: /api/" in robots


def test_bid_organisation_and_search_pages_describe_themselves(demo, db, client):
    bid = db.session.scalar(select(Bid).where(Bid.visibility == Visibility.PUBLISHED))
    pages = {
        f"/bids/{bid.id}": bid.title,
        f"/orgs/{bid.organisation.slug}": bid.organisation.name,
        "/search?q=community": "Search: community",
    }
    for url, title in pages.items():
        html = client.get(url).get_data(as_text=True)
        assert re.search(r'<meta name="description" content="[^"]{10,}">', html), url
        og_title = re.search(r'<meta property="og:title" content="([^"]*)">', html)
        assert og_title and og_title[1] == str(escape(title)), url
    org_page = client.get(f"/orgs/{bid.organisation.slug}").get_data(as_text=True)
    assert f'href="/feeds/orgs/{bid.organisation.slug}.atom"' in org_page
