"""JSON API v1 through HTTP: reads, writes, tokens, errors and the OpenAPI document."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from bids.accounts import create_api_token, revoke_api_token
from bids.database import db as _db
from bids.models import Attachment, Bid, Membership, OrgKind, Revision, User
from bids.publishing import hide_bid


def member(email: str, org, *, admin: bool = False) -> User:
    """A user without a real password (the API never uses one; scrypt would slow every test)."""
    user = User(email=email, display_name=email.split("@")[0], password_hash="!", is_admin=admin)
    _db.session.add(user)
    if org is not None:
        _db.session.add(Membership(user=user, organisation=org, role="owner"))
    _db.session.commit()
    return user


@pytest.fixture
def world(db, factory):
    """Two applicant organisations with a member and a token each, a funder and some bids."""

    class World:
        pass

    w = World()
    w.funder = factory.org("Big Lottery Trust", kind=OrgKind.FUNDER, org_identifier="GB-COH-00001")
    w.org_a = factory.org("Cardiff Makers", org_identifier="GB-CHC-1000001")
    w.org_b = factory.org("Belfast Growers")
    w.user_a = member("a@example.org", w.org_a)
    w.user_b = member("b@example.org", w.org_b)
    w.admin = member("admin@example.org", None, admin=True)
    w.token_a = create_api_token(w.user_a)[1]
    w.token_b = create_api_token(w.user_b)[1]
    db.session.commit()
    funder = {"name": "Big Lottery Trust"}
    w.old = factory.bid(
        w.org_a,
        title="Repair cafe",
        funder=funder,
        submitted_on="2021-03-01",
        status="submitted",
        amount_requested="5000",
    )
    w.mid = factory.bid(
        w.org_b,
        title="Seed library",
        funder={"name": "Ulster Fund"},
        submitted_on="2023-06-30",
        status="submitted",
    )
    w.new = factory.bid(
        w.org_a, title="Tool library", funder=funder, status="awarded", amount_awarded="7500.25"
    )  # no submission or decision date: no year
    w.draft = factory.bid(w.org_a, title="Secret draft", published=False)
    return w


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code:
        assert error["code"] == code
    return error


def count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


# --- GET /bids -------------------------------------------------------------------------------


def test_list_is_published_bids_newest_first(client, world):
    response = client.get("/api/v1/bids")
    assert response.status_code == 200
    data = response.get_json()
    assert data["total"] == 3 and data["page"] == 1 and data["per_page"] == 20
    assert [i["title"] for i in data["items"]] == ["Tool library", "Seed library", "Repair cafe"]
    item = data["items"][0]
    assert item == {
        "id": world.new.id,
        "identifier": f"360G-openbids-{world.new.id}",
        "title": "Tool library",
        "summary": "A community project.",
        "organisation": {"name": "Cardiff Makers", "identifier": "GB-CHC-1000001"},
        "funder": {"name": "Big Lottery Trust", "identifier": "GB-COH-00001"},
        "programme": "",
        "amount_requested": 10000,
        "amount_awarded": 7500.25,
        "currency": "GBP",
        "status": "awarded",
        "visibility": "published",
        "submitted_on": None,
        "url": f"http://localhost/bids/{world.new.id}",
    }
    assert data["items"][2]["submitted_on"] == "2021-03-01"


def test_pagination_and_its_bounds(client, world):
    first = client.get("/api/v1/bids?per_page=2").get_json()
    second = client.get("/api/v1/bids?per_page=2&page=2").get_json()
    beyond = client.get("/api/v1/bids?per_page=2&page=3").get_json()
    assert [len(first["items"]), len(second["items"]), len(beyond["items"])] == [2, 1, 0]
    assert first["total"] == second["total"] == beyond["total"] == 3
    assert second["items"][0]["title"] == "Repair cafe"
    assert client.get("/api/v1/bids?per_page=100").status_code == 200
    for query in ("per_page=101", "per_page=0", "per_page=ten", "page=0", "page=-1", "page=1.5"):
        error = assert_error(client.get(f"/api/v1/bids?{query}"), 400, "bad_request")
        assert query.split("=")[0] in error["message"]


FILTER_CASES = [
    ("identifier=360G-openbids-2", ["Seed library"]),
    ("identifier=nothing-like-it", []),
    ("organisation=cardiff makers", ["Tool library", "Repair cafe"]),
    ("organisation=gb-chc-1000001", ["Tool library", "Repair cafe"]),
    ("organisation=belfast-growers", ["Seed library"]),
    ("funder=Big Lottery Trust", ["Tool library", "Repair cafe"]),
    ("funder=GB-COH-00001", ["Tool library", "Repair cafe"]),
    ("funder=ulster-fund", ["Seed library"]),
    ("status=submitted", ["Seed library", "Repair cafe"]),
    ("status=AWARDED", ["Tool library"]),
    ("year=2021", ["Repair cafe"]),
    ("year=2023", ["Seed library"]),
    ("year=2022", []),
    ("status=submitted&organisation=Cardiff Makers", ["Repair cafe"]),
]


def test_filters(client, world):
    for query, titles in FILTER_CASES:
        data = client.get(f"/api/v1/bids?{query}").get_json()
        assert [i["title"] for i in data["items"]] == titles, query
        assert data["total"] == len(titles), query


def test_year_is_never_the_publication_year(client, world):
    year = world.new.published_at.year
    data = client.get(f"/api/v1/bids?year={year}").get_json()
    assert "Tool library" not in [i["title"] for i in data["items"]]
    assert "Repair cafe" not in [i["title"] for i in data["items"]]


def test_bad_filters_are_400(client, world):
    for query in ("status=pending", "year=twenty", "year=99999"):
        assert_error(client.get(f"/api/v1/bids?{query}"), 400, "bad_request")


def test_members_also_list_their_drafts_after_published_bids(client, world):
    anonymous = client.get("/api/v1/bids").get_json()
    member = client.get("/api/v1/bids", headers=bearer(world.token_a)).get_json()
    outsider = client.get("/api/v1/bids", headers=bearer(world.token_b)).get_json()
    assert "Secret draft" not in [i["title"] for i in anonymous["items"] + outsider["items"]]
    assert member["total"] == 4
    assert member["items"][-1]["title"] == "Secret draft"
    assert member["items"][-1]["visibility"] == "draft"


# --- GET /bids/<id> --------------------------------------------------------------------------


def test_detail(client, db, world):
    world.old.body = "## Why\n\nRepairs keep **things** out of landfill."
    db.session.add(
        Attachment(
            bid=world.old,
            filename="budget.pdf",
            size=10,
            sha256="c" * 64,
            pages=2,
            text="Budget lines.",
            extraction_status="ok",
        )
    )
    db.session.commit()
    response = client.get(f"/api/v1/bids/{world.old.id}")
    assert response.status_code == 200
    data = response.get_json()
    assert data["title"] == "Repair cafe" and data["amount_requested"] == 5000
    assert data["body"] == "## Why\n\nRepairs keep **things** out of landfill."
    assert data["text"] == "Why\nRepairs keep things out of landfill.\n\nBudget lines."
    assert data["themes"] == [] and data["licence"] == "CC-BY-4.0"
    attachment = data["attachments"][0]
    assert attachment["filename"] == "budget.pdf" and attachment["pages"] == 2
    assert attachment["sha256"] == "c" * 64 and attachment["status"] == "ok"
    assert re.fullmatch(
        rf"http://localhost/bids/{world.old.id}/attachments/\d+/budget.pdf", attachment["url"]
    )
    assert data["revisions"][0]["number"] == 1 and data["revisions"][0]["note"] == "Published"
    for key in ("created_at", "updated_at"):
        assert data[key].endswith("Z") and datetime.fromisoformat(data[key][:-1])


def test_unknown_bid_is_404_json(client, world):
    assert_error(client.get("/api/v1/bids/99999"), 404, "not_found")


def test_draft_is_404_to_outsiders_and_visible_to_members(client, world):
    url = f"/api/v1/bids/{world.draft.id}"
    assert_error(client.get(url), 404, "not_found")
    assert_error(client.get(url, headers=bearer(world.token_b)), 404, "not_found")
    assert client.get(url, headers=bearer(world.token_a)).get_json()["title"] == "Secret draft"


def test_hidden_bid_is_404_everywhere_for_outsiders(client, db, world):
    hide_bid(world.admin, world.mid, "Copied text.")
    db.session.commit()
    assert_error(client.get(f"/api/v1/bids/{world.mid.id}"), 404)
    assert_error(client.get(f"/api/v1/bids/{world.mid.id}", headers=bearer(world.token_a)), 404)
    listed = client.get("/api/v1/bids").get_json()["items"]
    assert "Seed library" not in [i["title"] for i in listed]
    owner_view = client.get(f"/api/v1/bids/{world.mid.id}", headers=bearer(world.token_b))
    assert owner_view.status_code == 200


# --- Tokens ---------------------------------------------------------------------------------


def test_revoked_or_unknown_token_is_401_even_on_reads(client, db, world):
    token = create_api_token(world.user_a, "old")
    db.session.commit()
    assert client.get("/api/v1/bids", headers=bearer(token[1])).status_code == 200
    revoke_api_token(world.user_a, token[0].id)
    db.session.commit()
    for response in (
        client.get("/api/v1/bids", headers=bearer(token[1])),
        client.get(f"/api/v1/bids/{world.draft.id}", headers=bearer(token[1])),
        client.patch(f"/api/v1/bids/{world.old.id}", json={"title": "x"}, headers=bearer(token[1])),
        client.get("/api/v1/bids", headers=bearer("ob_made-up")),
    ):
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert world.old.title == "Repair cafe"


def test_token_use_is_recorded(client, db, world):
    client.get("/api/v1/bids", headers=bearer(world.token_a))
    db.session.expire_all()
    from bids.models import ApiToken

    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.user_a.id))
    assert token.last_used_at is not None


def test_writes_without_a_valid_token_are_401(client, db, world):
    before = count(db, Bid), count(db, Revision)
    for method, path in [
        ("post", "/api/v1/bids"),
        ("patch", f"/api/v1/bids/{world.old.id}"),
        ("post", f"/api/v1/bids/{world.old.id}/attachments"),
    ]:
        for headers in ({}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer"}):
            response = getattr(client, method)(path, json={"title": "New"}, headers=headers)
            error = assert_error(response, 401, "unauthorized")
            assert "Bearer" in error["message"]
            assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert (count(db, Bid), count(db, Revision)) == before


def test_a_signed_in_browser_session_is_no_api_credential(client, db, world):
    with client.session_transaction() as session:
        session["_user_id"] = str(world.user_a.id)
        session["_fresh"] = True
    assert_error(client.post("/api/v1/bids", json={"title": "Via cookie", "summary": "s"}), 401)
    assert_error(client.get(f"/api/v1/bids/{world.draft.id}"), 404)


# --- POST /bids -----------------------------------------------------------------------------


def test_create_a_draft(client, db, world):
    response = client.post(
        "/api/v1/bids",
        json={
            "title": "Bike kitchen",
            "summary": "Fix bikes together.",
            "body": "Tools *and* tea.",
            "organisation": {"name": "Cardiff Makers", "identifier": "GB-CHC-1000001"},
            "funder": {"name": "Pedal Trust"},
            "amount_requested": 1200.5,
            "currency": "eur",
            "themes": ["cycling", "repair"],
            "locations": ["Wales"],
            "source_url": "https://example.org/bike-kitchen",
        },
        headers=bearer(world.token_a),
    )
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert response.headers["Location"] == f"http://localhost/api/v1/bids/{data['id']}"
    assert data["visibility"] == "draft" and data["status"] == "draft"
    assert data["identifier"] == f"360G-openbids-{data['id']}"
    assert data["funder"] == {"name": "Pedal Trust", "identifier": None}
    assert data["amount_requested"] == 1200.5 and data["currency"] == "EUR"
    assert data["source_url"] == "https://example.org/bike-kitchen"
    assert data["revisions"] == [] and data["published_at"] is None
    bid = db.session.get(Bid, data["id"])
    assert bid.organisation_id == world.org_a.id and bid.created_by_id == world.user_a.id
    assert_error(client.get(f"/api/v1/bids/{data['id']}"), 404)  # still a draft


def test_create_published_with_the_only_organisation_implied(client, db, world):
    response = client.post(
        "/api/v1/bids",
        json={
            "title": "Allotment share",
            "summary": "Plots for all.",
            "visibility": "published",
            "status": "submitted",
            "submitted_on": "2025-02-01",
            "identifier": "CM-2025-7",
        },
        headers=bearer(world.token_b),
    )
    assert response.status_code == 201
    data = response.get_json()
    assert data["organisation"]["name"] == "Belfast Growers"
    assert data["identifier"] == "CM-2025-7" and data["visibility"] == "published"
    assert [r["number"] for r in data["revisions"]] == [1]
    assert client.get(f"/api/v1/bids/{data['id']}").status_code == 200
    listed = client.get("/api/v1/bids?identifier=CM-2025-7").get_json()
    assert listed["total"] == 1


def test_create_for_an_organisation_one_is_not_in_is_403(client, db, world):
    before = count(db, Bid)
    for organisation in (
        {"name": "Belfast Growers"},
        {"name": "Nobody Ever Heard Of"},
        {"name": "Cardiff Makers", "identifier": "GB-CHC-9999999"},
    ):
        response = client.post(
            "/api/v1/bids",
            json={"title": "T", "summary": "S", "organisation": organisation},
            headers=bearer(world.token_a),
        )
        assert_error(response, 403, "forbidden")
    assert count(db, Bid) == before


def test_member_of_several_organisations_must_name_one(client, db, world):
    db.session.add(Membership(user=world.user_a, organisation=world.org_b, role="editor"))
    db.session.commit()
    error = assert_error(
        client.post(
            "/api/v1/bids", json={"title": "T", "summary": "S"}, headers=bearer(world.token_a)
        ),
        422,
    )
    assert "organisation" in error["fields"]
    ok = client.post(
        "/api/v1/bids",
        json={"title": "T", "summary": "S", "organisation": {"name": "belfast growers"}},
        headers=bearer(world.token_a),
    )
    assert ok.status_code == 201 and ok.get_json()["organisation"]["name"] == "Belfast Growers"


def test_user_without_organisation_cannot_create(client, db, factory, world):
    loner = member("loner@example.org", None)
    secret = create_api_token(loner)[1]
    db.session.commit()
    assert_error(
        client.post("/api/v1/bids", json={"title": "T", "summary": "S"}, headers=bearer(secret)),
        403,
    )


def test_create_validation_names_every_bad_field_and_stores_nothing(client, db, world):
    before = count(db, Bid), count(db, Revision)
    response = client.post(
        "/api/v1/bids",
        json={
            "title": "",
            "amount_requested": "lots",
            "currency": "XYZ",
            "status": "maybe",
            "submitted_on": "01/02/2024",
            "source_url": "javascript:alert(1)",
            "funder": {"name": "New Funder Ltd"},
        },
        headers=bearer(world.token_a),
    )
    error = assert_error(response, 422, "validation_error")
    assert set(error["fields"]) == {
        "title",
        "amount_requested",
        "currency",
        "status",
        "submitted_on",
        "source_url",
    }
    assert "ISO date" in error["fields"]["submitted_on"]
    assert (count(db, Bid), count(db, Revision)) == before
    assert client.get("/api/v1/bids?funder=New Funder Ltd").get_json()["total"] == 0


def test_unknown_fields_are_refused_and_read_only_fields_ignored(client, db, world):
    error = assert_error(
        client.post(
            "/api/v1/bids",
            json={"title": "T", "summary": "S", "ammount": 5, "colour": "red"},
            headers=bearer(world.token_a),
        ),
        422,
    )
    assert error["fields"] == {"ammount": "Unknown field.", "colour": "Unknown field."}
    # A fetched bid can be sent back: its output-only fields are ignored.
    fetched = client.get(f"/api/v1/bids/{world.old.id}").get_json()
    fetched.update({"identifier": "copy-1", "url": "https://elsewhere.example/", "id": 1})
    response = client.post("/api/v1/bids", json=fetched, headers=bearer(world.token_a))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] != 1
    assert response.get_json()["url"].startswith("http://localhost/bids/")


def test_bodies_that_are_not_a_json_object(client, db, world):
    before = count(db, Bid)
    for body, content_type, status in [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("title=x", "application/x-www-form-urlencoded", 415),
    ]:
        assert_error(
            client.post(
                "/api/v1/bids", headers=bearer(world.token_a), data=body, content_type=content_type
            ),
            status,
        )
    assert count(db, Bid) == before


# --- PATCH /bids/<id> ------------------------------------------------------------------------


def test_patch_changes_fields_and_adds_a_revision(client, db, world):
    response = client.patch(
        f"/api/v1/bids/{world.old.id}",
        json={
            "title": "Repair cafe, year two",
            "amount_requested": "6000",
            "themes": "repair; waste",
            "note": "New budget",
        },
        headers=bearer(world.token_a),
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["title"] == "Repair cafe, year two" and data["amount_requested"] == 6000
    assert data["themes"] == ["repair", "waste"]
    assert data["summary"] == "A community project."  # untouched
    assert [(r["number"], r["note"]) for r in data["revisions"]] == [
        (1, "Published"),
        (2, "New budget"),
    ]


def test_patch_can_publish_a_draft_but_not_unpublish(client, db, world):
    url = f"/api/v1/bids/{world.draft.id}"
    published = client.patch(url, json={"visibility": "published"}, headers=bearer(world.token_a))
    assert published.status_code == 200 and published.get_json()["visibility"] == "published"
    assert client.get(url).status_code == 200
    error = assert_error(
        client.patch(url, json={"visibility": "draft"}, headers=bearer(world.token_a)), 422
    )
    assert "visibility" in error["fields"]


def test_patch_permissions(client, db, world):
    # Another organisation's member: 403 on a public bid, 404 on a draft (invisible to them).
    assert_error(
        client.patch(
            f"/api/v1/bids/{world.old.id}", json={"title": "Mine"}, headers=bearer(world.token_b)
        ),
        403,
        "forbidden",
    )
    assert_error(
        client.patch(
            f"/api/v1/bids/{world.draft.id}", json={"title": "Mine"}, headers=bearer(world.token_b)
        ),
        404,
        "not_found",
    )
    assert_error(
        client.patch("/api/v1/bids/99999", json={"title": "Mine"}, headers=bearer(world.token_a)),
        404,
    )
    db.session.expire_all()
    assert (world.old.title, world.draft.title) == ("Repair cafe", "Secret draft")


def test_patch_validation_changes_nothing(client, db, world):
    revisions = count(db, Revision)
    for payload, field in [
        ({"title": "", "amount_awarded": -5}, "title"),
        ({"status": "draft"}, "status"),  # submitted -> draft is not a transition
        ({"decided_on": "2020-01-01"}, "decided_on"),  # before submission
        ({"title": "Changed", "organisation": {"name": "Belfast Growers"}}, "organisation"),
        ({"title": "Changed", "owner": "me"}, "owner"),
        ({"title": "Changed", "source_url": "ftp://x"}, "source_url"),
        ({"title": "Changed", "funder": {"name": "Fresh Funder"}, "status": "draft"}, "status"),
    ]:
        error = assert_error(
            client.patch(
                f"/api/v1/bids/{world.old.id}", json=payload, headers=bearer(world.token_a)
            ),
            422,
        )
        assert field in error["fields"], (payload, error)
    db.session.expire_all()
    assert world.old.title == "Repair cafe" and world.old.status == "submitted"
    assert world.old.decided_on is None and world.old.funder.name == "Big Lottery Trust"
    assert count(db, Revision) == revisions
    assert client.get("/api/v1/bids?funder=Fresh Funder").get_json()["total"] == 0


def test_patch_accepts_its_own_organisation(client, world):
    response = client.patch(
        f"/api/v1/bids/{world.old.id}",
        json={"organisation": {"name": "CARDIFF MAKERS"}, "programme": "Main"},
        headers=bearer(world.token_a),
    )
    assert response.status_code == 200 and response.get_json()["programme"] == "Main"


# --- POST /bids/<id>/attachments -------------------------------------------------------------


def multipart(filename: str, content: bytes) -> dict:
    """A multipart body built in memory (the test client spools big ones to unclosed temp files)."""
    boundary = "openbids-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def _pdf(shared_data) -> bytes:
    return (shared_data / "pdfs" / "baecher_joseph_2024.pdf").read_bytes()


def test_upload_a_real_pdf(client, db, world, shared_data):
    response = client.post(
        f"/api/v1/bids/{world.old.id}/attachments",
        headers=bearer(world.token_a),
        **multipart("proposal.pdf", _pdf(shared_data)),
    )
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    meta = {
        m["file"]: m
        for m in map(json.loads, (shared_data / "pdfs" / "metadata.jsonl").read_text().splitlines())
    }["baecher_joseph_2024.pdf"]
    assert data["pages"] == meta["pages"] and data["sha256"] == meta["sha256"]
    assert data["status"] == "ok" and data["filename"] == "proposal.pdf"
    assert response.headers["Location"] == data["url"]
    assert data["url"] == (
        f"http://localhost/bids/{world.old.id}/attachments/{data['id']}/proposal.pdf"
    )
    detail = client.get(f"/api/v1/bids/{world.old.id}").get_json()
    assert detail["attachments"][0]["id"] == data["id"]
    assert len(detail["text"]) > 1000  # the PDF's words are part of the text


def test_upload_a_text_file_named_pdf_is_415_and_stores_nothing(client, db, world):
    response = client.post(
        f"/api/v1/bids/{world.old.id}/attachments",
        data={"file": (io.BytesIO(b"just some words, honestly"), "report.pdf")},
        headers=bearer(world.token_a),
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert "not a PDF" in error["message"]
    assert count(db, Attachment) == 0


def test_upload_needs_multipart_with_a_file(client, db, world):
    url = f"/api/v1/bids/{world.old.id}/attachments"
    assert_error(client.post(url, json={"file": "x"}, headers=bearer(world.token_a)), 415)
    error = assert_error(
        client.post(
            url,
            data={"other": "x"},
            content_type="multipart/form-data",
            headers=bearer(world.token_a),
        ),
        422,
    )
    assert "file" in error["fields"]


def test_upload_permissions(client, db, world, shared_data):
    def upload(bid, token):
        return client.post(
            f"/api/v1/bids/{bid.id}/attachments",
            headers=bearer(token),
            **multipart("p.pdf", _pdf(shared_data)),
        )

    assert_error(upload(world.old, world.token_b), 403)
    assert_error(upload(world.draft, world.token_b), 404)
    assert count(db, Attachment) == 0


@pytest.mark.parametrize("app_config", [{"MAX_UPLOAD_MB": 1}])
def test_upload_too_large_is_413_json(client, db, world, app_config):
    url = f"/api/v1/bids/{world.old.id}/attachments"
    # Over the file limit but inside the request limit: the attachments service refuses it.
    over_file_limit = b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 10)
    error = assert_error(
        client.post(url, headers=bearer(world.token_a), **multipart("a.pdf", over_file_limit)),
        413,
        "payload_too_large",
    )
    assert "1 MB" in error["message"]
    # Over MAX_CONTENT_LENGTH: Flask itself refuses the request, still as JSON.
    huge = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    assert_error(
        client.post(url, headers=bearer(world.token_a), **multipart("b.pdf", huge)),
        413,
        "payload_too_large",
    )
    assert count(db, Attachment) == 0


# --- Errors, CSRF, rate limits ---------------------------------------------------------------


def test_wrong_method_and_unknown_path_are_json(client, world):
    response = client.delete(f"/api/v1/bids/{world.old.id}")
    assert_error(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_api_writes_need_no_csrf_token(client, world, app_config):
    response = client.post(
        "/api/v1/bids",
        json={"title": "No CSRF", "summary": "Token only."},
        headers=bearer(world.token_a),
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_API_ANON": "3 per minute",
            "RATELIMIT_API_TOKEN": "5 per minute",
        }
    ],
)
def test_rate_limits(client, world, app_config):
    for _ in range(3):
        assert client.get("/api/v1/bids").status_code == 200
    assert_error(client.get("/api/v1/bids"), 429, "rate_limited")
    # Made-up tokens are counted with the anonymous caller's address, not as fresh clients.
    assert_error(client.get("/api/v1/bids", headers=bearer("ob_invented")), 429)
    # A real token has its own, larger allowance.
    for _ in range(5):
        assert client.get("/api/v1/bids", headers=bearer(world.token_a)).status_code == 200
    assert_error(client.get("/api/v1/bids", headers=bearer(world.token_a)), 429)
    assert client.get("/api/v1/bids", headers=bearer(world.token_b)).status_code == 200


# --- OpenAPI and the docs page ---------------------------------------------------------------


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def test_openapi_document_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    document = json.loads(response.get_data(as_text=True))
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://localhost/api/v1"}]
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes
    assert not routes - described, (
        f"undescribed routes {sorted(routes - described)}: call portal.api.openapi.add_paths "
        "for them in their module"
    )
    assert not described - routes, f"described but missing routes {sorted(described - routes)}"
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            assert operation["summary"] and operation["responses"], (method, path)
            params = {p["name"] for p in operation.get("parameters", []) if "name" in p}
            assert set(re.findall(r"{(\w+)}", path)) <= params, (method, path)


def test_openapi_references_all_resolve(client):
    document = client.get("/api/v1/openapi.json").get_json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(document))
    assert refs
    for reference in refs:
        node = document
        for part in reference.split("/"):
            node = node[part]  # KeyError = a dangling reference
    item = document["components"]["schemas"]["BidItem"]["properties"]
    assert item["amount_requested"]["x-360giving"] == "amountAppliedFor"


def test_docs_page_lists_the_endpoints(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.count("<h1") == 1
    document = client.get("/api/v1/openapi.json").get_json()
    for path, ops in document["paths"].items():
        assert f"/api/v1{path}" in html
        for operation in ops.values():
            assert str(escape(operation["summary"])) in html
    assert 'href="/api/v1/openapi.json"' in html
    row = re.search(r"<tr>\s*<td><code>PATCH</code></td>.*?</tr>", html, re.S).group(0)
    assert "/api/v1/bids/{bid_id}" in row and "<td>required</td>" in row
    row = re.search(
        r"<tr>\s*<td><code>GET</code></td>\s*<td><code>/api/v1/bids</code>.*?</tr>", html, re.S
    ).group(0)
    assert "<td>optional</td>" in row
