"""HTTP tests of the overlaps pages and the similar-bids API: shapes, permissions, bad input."""

from __future__ import annotations

import io

import pytest

from bids.accounts import create_api_token
from bids.demo_content import COLLECTIVE_ID
from bids.models import Bid

LONELY = (
    "Weekly lunch clubs and telephone befriending for isolated older people in rural villages, "
    "with volunteer drivers bringing members to the village hall and a winter programme of "
    "home visits so nobody spends the cold months alone."
)
SPORT = (
    "Cross-community football and basketball leagues for teenagers, with dialogue workshops "
    "after each match so young people from both sides of the interface meet as team mates."
)
FOOD = (
    "A community kitchen cooking surplus food into hot meals, teaching cooking skills to young "
    "parents and running a pay-what-you-can cafe on the estate every weekday lunchtime."
)


@pytest.fixture
def corpus(factory):
    mine, theirs, other = factory.org("Mine"), factory.org("Theirs"), factory.org("Other")
    return {
        "mine": mine,
        "theirs": theirs,
        "member": factory.user("member@example.org", org=mine),
        "outsider": factory.user("outsider@example.org", org=theirs),
        "draft": factory.bid(mine, published=False, title="Secret village lunches", body=LONELY),
        "public": factory.bid(theirs, title="Village lunch clubs", body=LONELY + " " + FOOD),
        "far": factory.bid(other, title="Football", body=SPORT),
    }


def _bearer(user):
    _, secret = create_api_token(user, "test")
    from bids.database import db

    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_similar_api_shape_and_never_the_bid_itself(client, corpus):
    public = corpus["public"]
    response = client.get(f"/api/v1/bids/{public.id}/similar?limit=5")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert public.id not in [i["bid"]["id"] for i in items]
    assert corpus["draft"].id not in [i["bid"]["id"] for i in items]  # a draft never leaks
    assert corpus["far"].id not in [i["bid"]["id"] for i in items]  # unrelated: below "related"


def test_similar_api_includes_own_drafts_for_members_only(client, corpus):
    public, draft = corpus["public"], corpus["draft"]
    for headers, expected in (
        (_bearer(corpus["member"]), True),
        (_bearer(corpus["outsider"]), False),
        ({}, False),
    ):
        items = client.get(f"/api/v1/bids/{public.id}/similar", headers=headers).get_json()["items"]
        assert (draft.id in [i["bid"]["id"] for i in items]) is expected
        posted = client.post("/api/v1/similar", json={"text": LONELY}, headers=headers).get_json()[
            "items"
        ]
        assert (draft.id in [i["bid"]["id"] for i in posted]) is expected
    item = posted[0]
    assert item["bid"]["id"] == public.id and set(item) >= {
        "bid",
        "score",
        "relation",
        "shared_terms",
    }
    assert 0 < item["score"] <= 1 and item["relation"] in {
        "near-duplicate text",
        "strong overlap",
        "related",
    }
    assert item["bid"]["title"] == "Village lunch clubs"


def test_similar_api_hides_drafts_as_missing(client, corpus):
    assert client.get(f"/api/v1/bids/{corpus['draft'].id}/similar").status_code == 404
    ok = client.get(f"/api/v1/bids/{corpus['draft'].id}/similar", headers=_bearer(corpus["member"]))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"text": "too few words here"}, 422, "20 words"),
        ({"text": "word " * 40_001}, 422, "200,000"),
        ({"text": 12}, 422, "string"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_similar_api_rejects_bad_text(client, corpus, body, status, fragment):
    response = client.post("/api/v1/similar", json=body)
    assert response.status_code == status
    assert fragment in response.get_json()["error"]["message"]


def test_similar_api_limits(client, corpus):
    assert client.get(f"/api/v1/bids/{corpus['public'].id}/similar?limit=51").status_code == 400
    assert (
        client.post("/api/v1/similar", data="plain", content_type="text/plain").status_code == 415
    )


def test_similar_api_accepts_a_pdf_and_refuses_a_fake_one(client, corpus, shared_data):
    fake = client.post(
        "/api/v1/similar",
        data={"file": (io.BytesIO(b"not a pdf at all"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert fake.status_code in (415, 422)
    pdf = shared_data / "pdfs" / "zhu_rebecca_2018.pdf"
    with open(pdf, "rb") as handle:
        real = client.post(
            "/api/v1/similar",
            data={"file": (handle, "zhu.pdf")},
            content_type="multipart/form-data",
        )
    assert real.status_code == 200 and "items" in real.get_json()


class TestRateLimit:
    @pytest.fixture
    def app_config(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_SIMILAR": "2 per minute"}

    def test_similar_is_rate_limited(self, client, corpus):
        codes = [
            client.post("/api/v1/similar", json={"text": LONELY}).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]


def test_check_page_lists_overlaps_and_compares_the_draft(client, corpus):
    assert client.get("/check").status_code == 200
    page = client.post("/check", data={"title": "My lunches", "text": LONELY + " " + FOOD})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Village lunch clubs" in html and "Secret village lunches" not in html
    assert "near-duplicate text" in html and "% of passages in common" in html
    compare = client.post(
        f"/compare/draft/{corpus['public'].id}", data={"title": "My lunches", "text": LONELY}
    )
    body = compare.get_data(as_text=True)
    assert compare.status_code == 200 and "<mark>Weekly lunch clubs" in body


def test_check_page_refuses_short_text(client, corpus):
    page = client.post("/check", data={"text": "just a few words"})
    assert page.status_code == 422 and "20 words" in page.get_data(as_text=True)


def test_compare_page_marks_shared_passages_and_escapes(client, factory, corpus):
    evil = factory.bid(corpus["theirs"], title="Evil", body="<script>alert(1)</script> " + LONELY)
    response = client.get(f"/compare/{evil.id}/{corpus['public'].id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html and "<mark>" in html
    assert client.get(f"/compare/{evil.id}/{corpus['draft'].id}").status_code == 404


def test_compare_page_shows_markdown_as_text_with_the_same_passages(client, factory, corpus):
    styled = factory.bid(corpus["theirs"], title="Styled", body="## Our plan\n\n**" + LONELY + "**")
    html = client.get(f"/compare/{styled.id}/{corpus['public'].id}").get_data(as_text=True)
    assert "Our plan" in html and "## Our plan" not in html and "**" not in html
    assert "<mark>" in html


def test_demo_collective_and_overlapping_bids_find_each_other(app):
    from sqlalchemy import select

    from bids.database import db
    from bids.demo import seed_demo
    from search_index import similarity

    seed_demo()
    collective = db.session.scalar(select(Bid).where(Bid.identifier == COLLECTIVE_ID))
    found = [m.bid for m in similarity.similar_to_bid(None, collective)]
    assert len(found) >= 3
    for other in found[:3]:
        assert collective.id in [m.bid.id for m in similarity.similar_to_bid(None, other)]


def test_bid_page_panel_lists_overlaps_with_compare_links(client, corpus, factory):
    twin = factory.bid(corpus["mine"], title="Lunch clubs again", body=LONELY + " " + FOOD)
    html = client.get(f"/bids/{corpus['public'].id}").get_data(as_text=True)
    assert "Overlapping bids" in html and "Lunch clubs again" in html
    assert f"/compare/{corpus['public'].id}/{twin.id}" in html
    assert "Secret village lunches" not in html
    assert "Same funder, another organisation." in html  # the factory gives both the same funder


def test_draft_edit_page_shows_panel_and_lineage_hint_to_members(client, auth, corpus, factory):
    own_published = factory.bid(corpus["mine"], title="Last year's lunches", body=LONELY)
    auth.login("member@example.org")
    html = client.get(f"/bids/{corpus['draft'].id}/edit").get_data(as_text=True)
    assert "Overlapping bids" in html and "Village lunch clubs" in html
    assert "nearly duplicates another of your organisation's bids" in html
    assert own_published.identifier in html
    shown = client.get(f"/bids/{own_published.id}").get_data(as_text=True)
    assert "Secret village lunches" in shown  # a member sees the own draft among the overlaps
