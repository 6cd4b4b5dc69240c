"""Domain tests: bid fields, publishing services, revisions and Markdown rendering."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from bids.database import utcnow
from bids.errors import Forbidden, ValidationError
from bids.fields import clean_bid_fields, clean_tags
from bids.markdown_render import markdown_to_text, render_markdown
from bids.models import BidStatus, OrgKind
from bids.publishing import (
    create_bid,
    featured_collective_bid,
    hide_bid,
    home_counts,
    latest_published_bids,
    link_bids,
    publish_bid,
    record_outcome,
    resolve_bid_reference,
    unhide_bid,
    unlink_bids,
    update_bid,
)
from bids.revisions import (
    compare_revisions,
    compare_snapshots,
    latest_revision_number,
    list_revisions,
    revision_count,
    word_diff,
)

BASE = {"title": "Men's sheds in Powys", "summary": "Sheds.", "funder": "Arts Council"}


# --- fields --------------------------------------------------------------------------------


def test_clean_bid_fields_types_and_defaults():
    out = clean_bid_fields(
        {
            **BASE,
            "amount_requested": "£12,500.50",
            "currency": "eur",
            "duration_months": "18",
            "submitted_on": "2024-03-01",
            "themes": "loneliness; Loneliness ;older men",
            "licence": "cc0-1.0",
        }
    )
    assert out["amount_requested"] == Decimal("12500.50")
    assert out["currency"] == "EUR"
    assert out["duration_months"] == 18
    assert out["submitted_on"] == date(2024, 3, 1)
    assert out["themes"] == ["loneliness", "older men"]
    assert out["licence"] == "CC0-1.0"
    assert out["status"] == "draft" and out["visibility"] == "draft"
    assert out["funder"] == {"name": "Arts Council", "identifier": None}


def test_clean_bid_fields_names_every_bad_field():
    with pytest.raises(ValidationError) as exc:
        clean_bid_fields(
            {
                "title": "",
                "summary": "x",
                "amount_requested": "lots",
                "currency": "XXQ",
                "duration_months": "0",
                "submitted_on": "01/02/2024",
                "licence": "GPL",
                "url": "javascript:alert(1)",
                "funder": {"name": "F", "identifier": "nope"},
            }
        )
    assert set(exc.value.errors) == {
        "title",
        "amount_requested",
        "currency",
        "duration_months",
        "submitted_on",
        "licence",
        "url",
        "funder",
    }


@pytest.mark.parametrize("amount", ["-1", "1.234", "NaN", "Infinity", "1e20", True])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(ValidationError):
        clean_bid_fields({**BASE, "amount_requested": amount})


def test_a_bid_needs_some_text():
    with pytest.raises(ValidationError) as exc:
        clean_bid_fields({"title": "T"})
    assert "body" in exc.value.errors


def test_decision_cannot_precede_submission():
    with pytest.raises(ValidationError) as exc:
        clean_bid_fields({**BASE, "submitted_on": "2024-05-01", "decided_on": "2024-04-01"})
    assert "decided_on" in exc.value.errors


def test_dates_refuse_trailing_garbage_but_take_timestamps():
    # Before the fix, "2024-01-01garbage" was silently read as 2024-01-01.
    with pytest.raises(ValidationError):
        clean_bid_fields({**BASE, "submitted_on": "2024-01-01garbage"})
    out = clean_bid_fields(
        {
            **BASE,
            "submitted_on": "2024-01-01T09:30:00+00:00",
            "decided_on": datetime(2024, 2, 1, 12, 0),
        }
    )
    assert out["submitted_on"] == date(2024, 1, 1)
    # A datetime becomes a plain date (a Date column must not receive a datetime).
    assert type(out["decided_on"]) is date


def test_clean_tags_limits():
    assert clean_tags(["  a  b ", "A B", ""]) == ["a b"]
    with pytest.raises(ValidationError):
        clean_tags(";".join(f"t{i}" for i in range(31)))


# --- publishing ----------------------------------------------------------------------------


@pytest.fixture
def member(factory):
    org = factory.org("Powys Sheds")
    return factory.user(org=org), org


def test_create_generates_identifier_and_publishing_starts_the_history(db, member):
    user, org = member
    bid = create_bid(user, org, {**BASE, "visibility": "published"})
    db.session.commit()
    assert bid.identifier == f"360G-openbids-{bid.id}"
    assert bid.published_at is not None
    assert [r.number for r in bid.revisions] == [1]
    assert bid.revisions[0].snapshot["title"] == BASE["title"]


def test_identifiers_are_unique_and_the_generated_prefix_is_reserved(db, member, factory):
    user, org = member
    create_bid(user, org, {**BASE, "identifier": "GB-X-1"})
    with pytest.raises(ValidationError):
        create_bid(user, org, {**BASE, "identifier": "GB-X-1"})
    with pytest.raises(ValidationError):
        create_bid(user, org, {**BASE, "identifier": "360G-openbids-99"})


def test_update_cannot_take_a_generated_identifier(db, member):
    """Before the fix, a bid could take 360G-openbids-<n> and block bid n's creation."""
    user, org = member
    bid = create_bid(user, org, BASE)
    db.session.commit()
    with pytest.raises(ValidationError) as exc:
        update_bid(user, bid, {"identifier": f"360G-openbids-{bid.id + 1}"})
    assert "identifier" in exc.value.errors
    db.session.rollback()
    # Keeping its own generated identifier is fine.
    update_bid(user, bid, {"identifier": bid.identifier, "title": "Renamed"})
    assert bid.title == "Renamed"


def test_drafts_have_no_history_published_saves_do(db, member):
    user, org = member
    bid = create_bid(user, org, BASE)
    update_bid(user, bid, {"summary": "Still a draft."})
    assert bid.revisions == []
    publish_bid(user, bid)
    update_bid(user, bid, {"summary": "Now public."}, note="typo")
    db.session.commit()
    assert [(r.number, r.note) for r in bid.revisions] == [(1, "Published"), (2, "typo")]
    with pytest.raises(ValidationError):
        update_bid(user, bid, {"visibility": "draft"})


def test_outsiders_cannot_change_a_bid(db, member, factory):
    user, org = member
    bid = create_bid(user, org, {**BASE, "visibility": "published"})
    outsider = factory.user()
    with pytest.raises(Forbidden):
        create_bid(outsider, org, BASE)
    with pytest.raises(Forbidden):
        update_bid(outsider, bid, {"title": "Mine now"})
    with pytest.raises(Forbidden):
        record_outcome(outsider, bid, {"status": "declined"})


def test_outcome_rules(db, member):
    user, org = member
    bid = create_bid(
        user,
        org,
        {**BASE, "status": "submitted", "visibility": "published", "submitted_on": "2024-01-10"},
    )
    db.session.commit()  # the rollback below undoes the refused outcome only
    with pytest.raises(ValidationError):
        record_outcome(user, bid, {"status": "declined", "amount_awarded": "5"})
    db.session.rollback()
    record_outcome(
        user, bid, {"status": "awarded", "amount_awarded": "9000", "decided_on": "2024-06-01"}
    )
    assert (bid.status, bid.amount_awarded, bid.decided_on) == (
        "awarded",
        Decimal("9000.00"),
        date(2024, 6, 1),
    )
    assert bid.revisions[-1].note == "Outcome: awarded"
    with pytest.raises(ValidationError):  # awarded -> declined is not a sensible transition
        record_outcome(user, bid, {"status": "declined"})


def test_a_decision_without_a_date_is_dated_today(db, member):
    user, org = member
    bid = create_bid(user, org, {**BASE, "status": "submitted"})
    record_outcome(user, bid, {"status": "declined"})
    assert bid.decided_on == utcnow().date()


def test_lineage_links(db, member, factory):
    user, org = member
    first = create_bid(user, org, {**BASE, "visibility": "published"})
    second = create_bid(user, org, {**BASE, "visibility": "published"})
    link = link_bids(user, second, first, "resubmission_of")
    assert link_bids(user, second, first, "resubmission_of") is link
    assert first.backlinks == [link]
    with pytest.raises(ValidationError):
        link_bids(user, second, second, "also_sent_to")
    with pytest.raises(ValidationError):
        link_bids(user, second, first, "cousin_of")
    with pytest.raises(Forbidden):
        link_bids(factory.user(), second, first, "also_sent_to")
    unlink_bids(user, link)
    db.session.commit()
    assert second.links == [] and first.backlinks == []


def test_moderation(db, member, factory):
    user, org = member
    bid = create_bid(user, org, {**BASE, "visibility": "published"})
    admin = factory.user(admin=True)
    with pytest.raises(Forbidden):
        hide_bid(user, bid, "spam")
    with pytest.raises(ValidationError):
        hide_bid(admin, bid, "   ")
    hide_bid(admin, bid, "Contains personal data")
    assert not bid.is_public and bid.hidden_reason == "Contains personal data"
    assert bid not in latest_published_bids()
    unhide_bid(admin, bid)
    assert bid.is_public and bid in latest_published_bids()


# --- reading -------------------------------------------------------------------------------


def test_home_counts_only_public_bids_and_gbp(db, factory):
    a, b = factory.org("A"), factory.org("B")
    factory.bid(a, amount_requested="1000.50", funder="F1")
    factory.bid(a, amount_requested="2000", funder="F2")
    factory.bid(b, amount_requested="500", currency="EUR", funder="F1")
    factory.bid(b, amount_requested="7777", published=False, funder="F3")
    hidden = factory.bid(b, amount_requested="8888", funder="F4")
    hide_bid(factory.user(admin=True), hidden, "spam")
    db.session.commit()
    counts = home_counts()
    assert (counts.bids, counts.organisations, counts.funders) == (3, 2, 2)
    assert counts.requested_gbp == Decimal("3000.50")


def test_latest_and_featured(db, factory):
    collective = factory.org("The Relationships Project", kind=OrgKind.COLLECTIVE)
    other = factory.org("Other")
    old = factory.bid(collective, title="Old collective bid")
    new = factory.bid(collective, title="New collective bid")
    factory.bid(collective, title="Collective draft", published=False)
    later = factory.bid(other, title="Someone else")
    old.published_at = utcnow() - timedelta(days=3)
    db.session.commit()
    assert featured_collective_bid() == new
    titles = [b.title for b in latest_published_bids(10)]
    assert titles == [later.title, new.title, old.title]
    assert [b.title for b in latest_published_bids(1)] == [later.title]


def test_featured_is_none_without_a_collective(db, factory):
    factory.bid(factory.org("Plain"))
    assert featured_collective_bid() is None


def test_resolve_bid_reference(db, factory):
    org = factory.org("Refs")
    bid = factory.bid(org, identifier="GB-REF/7")
    draft = factory.bid(org, published=False)
    assert resolve_bid_reference(None, "GB-REF/7") == bid
    assert resolve_bid_reference(None, f"https://openbids.example/bids/{bid.id}") == bid
    assert resolve_bid_reference(None, f"/bids/{bid.id}/") == bid
    assert resolve_bid_reference(None, "http://x/bids/by-identifier/GB-REF%2F7") == bid
    for reference in (draft.identifier, f"/bids/{draft.id}", "", "https://x/orgs/refs"):
        with pytest.raises(ValidationError):
            resolve_bid_reference(None, reference)
    member = factory.user(org=org)
    assert resolve_bid_reference(member, draft.identifier) == draft


# --- revisions -----------------------------------------------------------------------------


def test_word_diff_runs():
    segments = word_diff("we will help older men", "we will help older people in Powys")
    assert [(s.kind, s.text) for s in segments] == [
        ("same", "we will help older "),
        ("removed", "men"),
        ("added", "people in Powys"),
    ]


def test_word_diff_keeps_a_rewritten_phrase_together():
    """Before the fix, this alternated We/Warm, help/spaces... one word at a time."""
    segments = word_diff("We help older men. Thanks", "Warm spaces in Wrexham. Thanks")
    assert [(s.kind, s.text) for s in segments] == [
        ("removed", "We help older men."),
        ("added", "Warm spaces in Wrexham."),
        ("same", " Thanks"),
    ]
    segments = word_diff("a b c d", "a x c y")  # a kept word still separates two changes
    assert [s.kind for s in segments] == ["same", "removed", "added", "same", "removed", "added"]


def test_compare_revisions(db, member):
    user, org = member
    bid = create_bid(user, org, {**BASE, "visibility": "published", "themes": ["a"]})
    update_bid(user, bid, {"title": "Men's sheds across Wales", "themes": "a; b"})
    update_bid(user, bid, {"amount_requested": "100", "url": "https://example.org/b"})
    changes = {c.field: c for c in compare_revisions(bid, 1, 3)}
    assert set(changes) == {"title", "themes", "amount_requested", "source_url"}
    assert changes["themes"].old == "a" and changes["themes"].new == "a; b"
    assert compare_snapshots(bid.revisions[0].snapshot, bid.revisions[0].snapshot) == []
    assert (revision_count(bid), latest_revision_number(bid)) == (3, 3)
    assert [r.number for r in list_revisions(bid)] == [3, 2, 1]


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_is_rendered_then_sanitised():
    html = render_markdown(
        "# Aims\n\n**bold** [ok](https://example.org) [bad](javascript:alert(1))\n\n"
        "<script>alert(1)</script><img src=x onerror=alert(2)>"
        '<a href="JaVaScRiPt:alert(3)" onclick="x()">y</a>'
    )
    assert "<h2>Aims</h2>" in html  # demoted under the page's h1
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html and "nofollow" in html
    for bad in ("<script", "javascript:", "JaVaScRiPt", "onerror", "onclick", "<img"):
        assert bad not in html


def test_markdown_to_text():
    text = markdown_to_text("# Head\n\n*a* &amp; b <script>x()</script>")
    assert text.split() == ["Head", "a", "&", "b"]


def test_status_values_match_the_enum():
    assert {s.value for s in BidStatus} == {
        "draft",
        "submitted",
        "awarded",
        "declined",
        "withdrawn",
    }
