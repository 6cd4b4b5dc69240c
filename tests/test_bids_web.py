"""Bid pages over HTTP: publish, edit, read, outcome, revisions, lineage, moderation, uploads."""

from __future__ import annotations

import io
import re

import pytest
from flask import g
from sqlalchemy import func, select

from bids.models import Bid, BidLink, Membership

FORM = {
    "title": "Warm spaces in Wrexham",
    "summary": "Heated rooms and company through the winter.",
    "body": "## Why\n\nMany people are **cold** and alone.",
    "funder_name": "National Lottery Community Fund",
    "funder_identifier": "GB-COH-RC000934",
    "programme": "Awards for All Wales",
    "amount_requested": "18,500",
    "currency": "GBP",
    "duration_months": "12",
    "submitted_on": "2024-09-01",
    "status": "submitted",
    "themes": "warmth; loneliness",
    "locations": "Wales; North West",
    "licence": "CC-BY-4.0",
    "identifier": "",
    "source_url": "https://example.org/warm-spaces",
}


def login(client, user):
    """Sign in through Flask-Login's session keys (independent of the auth pages)."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    # The `app` fixture keeps one app context for the whole test, so Flask-Login's cached
    # user in `g` would outlive the session change.
    g.pop("_login_user", None)


def logout(client):
    with client.session_transaction() as session:
        session.clear()
    g.pop("_login_user", None)


@pytest.fixture
def org(factory):
    return factory.org("Wrexham Warmth")


@pytest.fixture
def member(factory, org):
    return factory.user(org=org, name="Morgan Member")


def bid_count(db) -> int:
    return db.session.scalar(select(func.count(Bid.id)))


# --- new ----------------------------------------------------------------------------------


def test_new_requires_sign_in(client):
    response = client.get("/bids/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_new_without_an_organisation_links_to_create_one(client, factory):
    login(client, factory.user())
    page = client.get("/bids/new").get_data(as_text=True)
    assert 'href="/orgs/new"' in page
    assert 'name="title"' not in page


def test_new_form_has_every_field_and_suggestions(client, member, org):
    login(client, member)
    page = client.get("/bids/new").get_data(as_text=True)
    for name in (
        "organisation",
        "title",
        "summary",
        "body",
        "funder_name",
        "funder_identifier",
        "programme",
        "amount_requested",
        "currency",
        "duration_months",
        "submitted_on",
        "themes",
        "locations",
        "licence",
        "identifier",
        "preview",
        "save_draft",
        "publish",
    ):
        assert f'name="{name}"' in page, name
    assert '<option selected value="GBP">GBP</option>' in page
    assert '<option value="NOK">NOK</option>' in page
    assert '<option value="Yorkshire and the Humber">' in page
    assert 'value="CC0-1.0"' in page
    assert f'<option value="{org.id}">Wrexham Warmth</option>' in page
    assert 'aria-describedby="None"' not in page and "aria-invalid" not in page
    assert 'aria-describedby="title_hint"' not in page  # title has no hint
    assert 'aria-describedby="summary-hint"' in page


def test_new_preselects_the_organisation_from_the_link(client, member, org, factory):
    second = factory.org("Second Org")
    factory.db.session.add(Membership(user=member, organisation=second, role="editor"))
    factory.db.session.commit()
    login(client, member)
    page = client.get(f"/bids/new?organisation={second.id}").get_data(as_text=True)
    assert f'<option selected value="{second.id}">Second Org</option>' in page
    assert f'<option value="{org.id}">Wrexham Warmth</option>' in page


def test_publish_a_bid(client, db, member, org):
    login(client, member)
    response = client.post("/bids/new", data={**FORM, "organisation": org.id, "publish": "Publish"})
    assert response.status_code == 302
    bid = db.session.scalar(select(Bid))
    assert response.headers["Location"] == f"/bids/{bid.id}"
    assert bid.is_published and bid.identifier == f"360G-openbids-{bid.id}"
    assert bid.amount_requested_minor == 1_850_000
    assert bid.funder.name == "National Lottery Community Fund"
    assert bid.funder.org_identifier == "GB-COH-RC000934"
    assert bid.themes == ["warmth", "loneliness"] and bid.locations == ["Wales", "North West"]
    assert len(bid.revisions) == 1
    assert bid.source_url == "https://example.org/warm-spaces"

    logout(client)
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "<h3>Why</h3>" in page and "<strong>cold</strong>" in page  # under the h1 and h2s
    assert "Draft: only your organisation" not in page


def test_save_as_draft_is_private(client, db, member, org, factory):
    login(client, member)
    client.post(
        "/bids/new", data={**FORM, "organisation": org.id, "save_draft": "Save as private draft"}
    )
    bid = db.session.scalar(select(Bid))
    assert not bid.is_published and bid.revisions == []
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "Draft: only your organisation can see this." in page

    login(client, factory.user())
    assert client.get(f"/bids/{bid.id}").status_code == 404
    assert client.get(f"/bids/by-identifier/{bid.identifier}").status_code == 404
    assert client.get(f"/bids/{bid.id}/revisions").status_code == 404
    assert client.get(f"/bids/{bid.id}/edit").status_code == 404


def test_preview_renders_markdown_and_saves_nothing(client, db, member, org):
    login(client, member)
    body = "# Plan\n\n- one\n- two\n\n<script>alert(1)</script>[x](javascript:alert(2))"
    response = client.post(
        "/bids/new", data={**FORM, "organisation": org.id, "body": body, "preview": "Preview"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    preview = page.split('id="preview-heading"')[1].split("</section>")[0]
    assert "<h2>Plan</h2>" in preview and "<li>one</li>" in preview
    assert "<script>alert(1)" not in page and "javascript:alert(2)" not in preview
    assert "# Plan" in page  # the source is kept in the textarea
    assert bid_count(db) == 0


def test_live_preview_endpoint_sanitises(client, member):
    assert client.post("/bids/preview", data={"body": "# x"}).status_code == 302  # signed out
    login(client, member)
    response = client.post(
        "/bids/preview",
        data={"body": "# Plan\n\n*a* <script>alert(1)</script> [x](javascript:alert(2))"},
    )
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h2>Plan</h2>" in html and "<em>a</em>" in html
    assert "<script" not in html and "javascript:" not in html


def test_invalid_input_shows_errors_and_saves_nothing(client, db, member, org):
    login(client, member)
    response = client.post(
        "/bids/new",
        data={
            **FORM,
            "organisation": org.id,
            "title": "",
            "amount_requested": "lots",
            "submitted_on": "yesterday",
            "funder_identifier": "bad id",
            "publish": "Publish",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Title is required." in page
    assert "Must be a number" in page
    assert "Use an ISO date, YYYY-MM-DD." in page
    assert "Funder identifier" in page
    assert 'aria-invalid="true"' in page
    assert bid_count(db) == 0


def test_cannot_publish_for_someone_elses_organisation(client, db, member, factory):
    other = factory.org("Not yours")
    login(client, member)
    response = client.post(
        "/bids/new", data={**FORM, "organisation": other.id, "publish": "Publish"}
    )
    assert response.status_code == 422
    assert bid_count(db) == 0


# --- edit ---------------------------------------------------------------------------------


def test_edit_is_prefilled_and_each_save_is_a_revision(client, db, member, org, factory):
    bid = factory.bid(org, title="Original title", themes=["a", "b"], amount_requested="1500.25")
    login(client, member)
    page = client.get(f"/bids/{bid.id}/edit").get_data(as_text=True)
    assert 'value="Original title"' in page and 'value="a; b"' in page
    assert 'value="1500.25"' in page
    assert 'name="save"' in page and 'name="publish"' not in page

    data = {**FORM, "title": "Better title", "note": "Clearer", "save": "Save changes"}
    response = client.post(f"/bids/{bid.id}/edit", data=data)
    assert response.status_code == 302
    db.session.refresh(bid)
    assert bid.title == "Better title"
    assert [r.note for r in bid.revisions] == ["Published", "Clearer"]


def test_edit_a_draft_then_publish(client, db, member, org, factory):
    bid = factory.bid(org, published=False)
    login(client, member)
    page = client.get(f"/bids/{bid.id}/edit").get_data(as_text=True)
    assert 'name="publish"' in page and 'name="save_draft"' in page
    assert 'name="amount_requested" type="text" value="10000"' in page  # not 10000.00
    client.post(f"/bids/{bid.id}/edit", data={**FORM, "publish": "Publish"})
    db.session.refresh(bid)
    assert bid.is_published and len(bid.revisions) == 1


def test_failed_edit_changes_nothing(client, db, member, org, factory):
    bid = factory.bid(org, title="Stays", submitted_on="2024-01-01")
    login(client, member)
    response = client.post(
        f"/bids/{bid.id}/edit",
        data={**FORM, "title": "Changed?", "identifier": "360G-openbids-999", "save": "Save"},
    )
    assert response.status_code == 422
    assert "assigned by Open Bids" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).title == "Stays"


def test_outsiders_cannot_edit(client, db, org, factory):
    bid = factory.bid(org)
    login(client, factory.user())
    assert client.get(f"/bids/{bid.id}/edit").status_code == 403
    assert client.post(f"/bids/{bid.id}/edit", data={**FORM, "save": "Save"}).status_code == 403
    assert client.post(f"/bids/{bid.id}/outcome", data={"status": "declined"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).title != FORM["title"]


# --- bid page -----------------------------------------------------------------------------


def test_bid_page_metadata_licence_permalink(client, db, org, factory):
    bid = factory.bid(
        org,
        identifier="GB-WW/2024:7",
        title="Warm rooms",
        programme="Winter",
        amount_requested="18500",
        currency="GBP",
        duration_months="12",
        submitted_on="2024-09-01",
        status="submitted",
        themes=["warmth"],
        locations=["Wales"],
        licence="CC-BY-SA-4.0",
    )
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert page.count("<h1>") == 1
    for expected in (
        "GB-WW/2024:7",
        f'href="/orgs/{org.slug}"',
        "National Lottery Community Fund",
        "Winter",
        "£18,500",
        "12 months",
        "1 September 2024",
        ">warmth<",
        ">Wales<",
        'href="https://creativecommons.org/licenses/by-sa/4.0/"',
        "http://localhost/bids/by-identifier/GB-WW/2024:7",
        "1 revision",
    ):
        assert expected in page, expected
    assert 'href="/bids/1/edit"' not in page  # not a member
    redirect = client.get("/bids/by-identifier/GB-WW/2024:7")
    assert redirect.status_code == 302 and redirect.headers["Location"] == f"/bids/{bid.id}"
    assert client.get("/bids/by-identifier/nope").status_code == 404
    assert client.get("/bids/9999").status_code == 404


def test_members_see_edit_buttons(client, member, org, factory):
    bid = factory.bid(org)
    login(client, member)
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert f'href="/bids/{bid.id}/edit"' in page and f'href="/bids/{bid.id}/outcome"' in page


# --- outcome ------------------------------------------------------------------------------


def test_record_outcome(client, db, member, org, factory):
    bid = factory.bid(org, status="submitted", submitted_on="2024-01-01")
    login(client, member)
    response = client.post(
        f"/bids/{bid.id}/outcome",
        data={
            "status": "awarded",
            "amount_awarded": "15000",
            "decided_on": "2024-03-01",
            "note": "Good news",
        },
    )
    assert response.status_code == 302
    db.session.refresh(bid)
    assert bid.status == "awarded" and bid.amount_awarded_minor == 1_500_000
    assert bid.revisions[-1].note == "Good news"
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "£15,000" in page and "1 March 2024" in page
    assert '<span class="status status-label status-awarded">Awarded</span>' in page

    response = client.post(f"/bids/{bid.id}/outcome", data={"status": "declined"})
    assert response.status_code == 422
    assert "cannot become declined" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).status == "awarded"


# --- revisions ----------------------------------------------------------------------------


def test_revisions_and_compare(client, db, member, org, factory):
    bid = factory.bid(org, title="We help older men", summary="Sheds.")
    login(client, member)
    client.post(
        f"/bids/{bid.id}/edit",
        data={
            **FORM,
            "title": "We help older people <b>now</b>",
            "summary": "Sheds.",
            "save": "Save",
        },
    )
    client.post(
        f"/bids/{bid.id}/edit",
        data={
            **FORM,
            "title": "We help older people <b>now</b>",
            "summary": "Sheds and gardens.",
            "save": "Save",
        },
    )
    page = client.get(f"/bids/{bid.id}/revisions").get_data(as_text=True)
    assert "3 revision" not in page and page.count("<tr>") == 4  # header + 3 revisions
    assert f"/bids/{bid.id}/revisions/compare?from=2&amp;to=3" in page

    response = client.get(f"/bids/{bid.id}/revisions/compare?from=1&to=3")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    title = page.split("<h2>Title</h2>")[1].split("</section>")[0]
    assert "We help older <del>men</del><ins>people &lt;b&gt;now&lt;/b&gt;</ins>" in title
    assert "<del>Sheds.</del><ins>Sheds and gardens.</ins>" in page

    assert client.get(f"/bids/{bid.id}/revisions/compare?from=1&to=7").status_code == 404
    # Defaults compare the last two.
    page = client.get(f"/bids/{bid.id}/revisions/compare").get_data(as_text=True)
    assert "from revision 2 to 3" in page


# --- lineage ------------------------------------------------------------------------------


def test_lineage_links_both_directions_and_removal(client, db, member, org, factory):
    other_org = factory.org("Elsewhere")
    earlier = factory.bid(other_org, title="Earlier attempt", identifier="GB-EARLY-1")
    secret = factory.bid(other_org, title="Secret", published=False)
    bid = factory.bid(org, title="Second attempt")
    login(client, member)

    response = client.post(
        f"/bids/{bid.id}/links",
        data={"kind": "resubmission_of", "target": f"http://localhost/bids/{earlier.id}"},
    )
    assert response.status_code == 302
    link = db.session.scalar(select(BidLink))
    assert (link.from_bid_id, link.to_bid_id, link.kind) == (bid.id, earlier.id, "resubmission_of")

    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "Resubmission of" in page and "Earlier attempt" in page
    page = client.get(f"/bids/{earlier.id}").get_data(as_text=True)
    assert "Resubmitted as" in page and "Second attempt" in page

    client.post(f"/bids/{bid.id}/links", data={"kind": "also_sent_to", "target": secret.identifier})
    assert db.session.scalar(select(func.count(BidLink.id))) == 1
    page = client.get(f"/bids/{bid.id}/edit").get_data(as_text=True)
    assert "No bid found with that identifier or address." in page

    client.post(f"/bids/{bid.id}/links/{link.id}/delete")
    assert db.session.scalar(select(func.count(BidLink.id))) == 0


# --- moderation ---------------------------------------------------------------------------


def test_moderation_hide_and_restore(client, db, member, org, factory):
    bid = factory.bid(org, title="Contentious")
    admin = factory.user(admin=True)
    login(client, member)
    assert client.post(f"/bids/{bid.id}/hide", data={"reason": "x"}).status_code == 404
    assert "Hide this bid" not in client.get(f"/bids/{bid.id}").get_data(as_text=True)

    login(client, admin)
    assert "Hide this bid" in client.get(f"/bids/{bid.id}").get_data(as_text=True)
    client.post(f"/bids/{bid.id}/hide", data={"reason": "Names a child"})
    db.session.refresh(bid)
    assert bid.is_hidden

    login(client, member)
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "Hidden by a moderator" in page and "Names a child" in page
    logout(client)
    assert client.get(f"/bids/{bid.id}").status_code == 404
    assert "Contentious" not in client.get("/bids/").get_data(as_text=True)

    login(client, admin)
    client.post(f"/bids/{bid.id}/restore")
    logout(client)
    assert client.get(f"/bids/{bid.id}").status_code == 200


# --- XSS ----------------------------------------------------------------------------------


def test_xss_in_every_field_comes_back_escaped(client, db, member, org):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    login(client, member)
    client.post(
        "/bids/new",
        data={
            **FORM,
            "organisation": org.id,
            "title": "T" + payload,
            "summary": "S" + payload,
            "programme": "P" + payload,
            "funder_name": "F" + payload,
            "themes": "th" + payload,
            "locations": "lo" + payload,
            "funder_identifier": "",
            "body": payload
            + '\n\n[click](javascript:alert(2)) <a href="#" onclick="alert(3)">a</a>',
            "publish": "Publish",
        },
    )
    bid = db.session.scalar(select(Bid))
    assert bid is not None and bid.title.startswith("T<script>")
    client.post(
        f"/bids/{bid.id}/edit",
        data={**FORM, "title": bid.title, "note": "n" + payload, "save": "Save"},
    )
    assert bid.revisions[-1].note.startswith("n<script>")
    logout(client)
    for url in (f"/bids/{bid.id}", "/bids/", "/", f"/bids/{bid.id}/revisions"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        assert "<img src=x" not in page and "onerror=alert" not in page.replace(
            "onerror=alert(1)&gt;", ""
        )
        assert "javascript:" not in page and 'onclick="alert' not in page
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "T&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


# --- attachments --------------------------------------------------------------------------


def test_upload_and_download_a_pdf(client, db, member, org, factory, shared_data):
    bid = factory.bid(org)
    pdf = (shared_data / "pdfs" / "barker_michelle_2020.pdf").read_bytes()
    login(client, member)
    response = client.post(
        f"/bids/{bid.id}/attachments",
        data={"file": (io.BytesIO(pdf), "Barker proposal.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    db.session.refresh(bid)
    assert len(bid.attachments) == 1
    attachment = bid.attachments[0]
    assert attachment.extraction_status == "ok"
    assert attachment.extraction_message in page

    logout(client)
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    url = f"/bids/{bid.id}/attachments/{attachment.id}/{attachment.filename}"
    assert url in page and f"{attachment.pages} pages" in page
    with client.get(url) as download:
        assert download.status_code == 200
        assert download.data == pdf
        assert download.mimetype == "application/pdf"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/bids/{bid.id}/attachments/{attachment.id}/other.pdf").status_code == 404


def test_a_text_file_named_pdf_is_refused_with_a_message(client, db, member, org, factory):
    bid = factory.bid(org)
    login(client, member)
    response = client.post(
        f"/bids/{bid.id}/attachments",
        data={"file": (io.BytesIO(b"just text, honest"), "bid.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "not a PDF" in page
    db.session.refresh(bid)
    assert bid.attachments == []


def test_attachments_of_a_draft_are_private(client, db, member, org, factory, shared_data):
    bid = factory.bid(org, published=False)
    login(client, member)
    pdf = (shared_data / "pdfs" / "barker_michelle_2020.pdf").read_bytes()
    client.post(
        f"/bids/{bid.id}/attachments",
        data={"file": (io.BytesIO(pdf), "p.pdf")},
        content_type="multipart/form-data",
    )
    db.session.refresh(bid)
    url = f"/bids/{bid.id}/attachments/{bid.attachments[0].id}/{bid.attachments[0].filename}"
    with client.get(url) as download:
        assert download.status_code == 200
    login(client, factory.user())
    assert client.get(url).status_code == 404


class TestUploadLimit:
    @pytest.fixture
    def app_config(self):
        return {"MAX_UPLOAD_MB": 1}

    def test_an_oversized_upload_is_refused_with_a_message(self, client, db, member, org, factory):
        bid = factory.bid(org)
        login(client, member)
        big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)
        response = client.post(
            f"/bids/{bid.id}/attachments",
            data={"file": (io.BytesIO(big), "big.pdf")},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        assert response.status_code == 200
        assert "larger than 1 MB" in response.get_data(as_text=True)
        db.session.refresh(bid)
        assert bid.attachments == []


# --- CSRF ---------------------------------------------------------------------------------


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_forms_without_a_token_are_refused(self, client, db, member, org, factory):
        bid = factory.bid(org)
        other = factory.bid(org)
        link = BidLink(from_bid_id=bid.id, to_bid_id=other.id, kind="also_sent_to")
        db.session.add(link)
        member.is_admin = True
        db.session.commit()
        login(client, member)
        for url, data in (
            ("/bids/new", {**FORM, "organisation": org.id, "publish": "Publish"}),
            (f"/bids/{bid.id}/edit", {**FORM, "save": "Save"}),
            (f"/bids/{bid.id}/outcome", {"status": "submitted"}),
            (f"/bids/{bid.id}/attachments", {"file": (io.BytesIO(b"%PDF-1.4"), "a.pdf")}),
            (f"/bids/{bid.id}/links", {"kind": "resubmission_of", "target": other.identifier}),
            (f"/bids/{bid.id}/links/{link.id}/delete", {}),
            (f"/bids/{bid.id}/hide", {"reason": "spam"}),
            ("/bids/preview", {"body": "# x"}),
        ):
            response = client.post(url, data=data)
            assert response.status_code == 400, url
            assert "The form expired" in response.get_data(as_text=True)
        db.session.expire_all()
        bid = db.session.get(Bid, bid.id)
        assert bid_count(db) == 2
        assert (bid.status, bid.title, bid.attachments, bid.is_hidden) == (
            "draft",
            bid.title,
            [],
            False,
        )
        assert bid.title != FORM["title"]
        assert [(x.kind, x.to_bid_id) for x in bid.links] == [("also_sent_to", other.id)]

    def test_forms_carry_a_token(self, client, db, member, org, factory):
        bid = factory.bid(org)
        db.session.add(
            BidLink(from_bid_id=bid.id, to_bid_id=factory.bid(org).id, kind="also_sent_to")
        )
        member.is_admin = True
        db.session.commit()
        login(client, member)
        expected = {
            "/bids/new": 2,
            f"/bids/{bid.id}/edit": 5,
            f"/bids/{bid.id}/outcome": 2,
            f"/bids/{bid.id}": 2,
        }  # the header's sign-out form is one of them
        for url, count in expected.items():
            page = client.get(url).get_data(as_text=True)
            forms = re.findall(r'<form[^>]*method="post".*?</form>', page, re.S)
            assert len(forms) == count, url
            assert all('name="csrf_token"' in form for form in forms), url
