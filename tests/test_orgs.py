"""HTTP tests of the organisation pages: list, create, page, edit, members, invitations, join."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bids.database import utcnow
from bids.models import Invitation, Membership, Organisation, OrgKind, Role
from bids.organisations import create_invitation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("fast_passwords")


def org_count(db) -> int:
    return db.session.scalar(select(func.count(Organisation.id)))


@pytest.fixture
def signed_in(client, auth, factory):
    user = factory.user("ann@example.org", "Ann Example")
    auth.login("ann@example.org")
    return user


@pytest.fixture
def owned(factory, signed_in, db):
    org = factory.org("Riverside Trust")
    db.session.add(Membership(user=signed_in, organisation=org, role=Role.OWNER))
    db.session.commit()
    return org


# --- create -----------------------------------------------------------------------------


def test_new_needs_sign_in(client):
    response = client.get("/orgs/new")
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    assert client.post("/orgs/new", data={"name": "X"}).status_code == 302


def test_new_form_offers_kinds_and_suggested_places(client, signed_in):
    html = client.get("/orgs/new").get_data(as_text=True)
    for kind in ("applicant", "funder", "collective", "other"):
        assert f'value="{kind}"' in html
    for place in ("Northern Ireland", "Yorkshire and the Humber"):
        assert f'type="checkbox" value="{place}"' in html
    assert "<legend>Where you work (optional)</legend>" in html


def test_create_organisation(client, signed_in, db):
    response = client.post(
        "/orgs/new",
        data={
            "name": "Cardiff Community Kitchens",
            "kind": "applicant",
            "identifier": "gb-chc-1164883",
            "website": "https://kitchens.example",
            "description": "We cook together.\n\nEvery week.",
            "regions": ["Wales"],
            "other_regions": "Cardiff; Newport",
        },
    )
    assert response.status_code == 302 and response.location == "/orgs/cardiff-community-kitchens"
    org = db.session.scalar(select(Organisation))
    assert org.org_identifier == "GB-CHC-1164883"
    assert org.regions == ["Wales", "Cardiff", "Newport"]
    assert signed_in.role_in(org.id) == Role.OWNER
    html = client.get(response.location).get_data(as_text=True)
    assert "Cardiff Community Kitchens" in html and "GB-CHC-1164883" in html
    assert "<p>We cook together.</p>" in html and "Wales, Cardiff, Newport" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Name is required"),
        ({"name": "X", "identifier": "12345"}, "org-id form"),
        ({"name": "X", "website": "ftp://x.example"}, "must start with http"),
        ({"name": "X", "kind": "bank"}, "Not a valid choice"),
        ({"name": "X", "regions": ["Atlantis"]}, "not a valid choice"),
    ],
)
def test_create_organisation_bad_input_changes_nothing(client, signed_in, db, data, message):
    response = client.post("/orgs/new", data={"kind": "applicant", **data})
    assert response.status_code == 422
    assert message.lower() in response.get_data(as_text=True).lower()
    assert org_count(db) == 0
    assert db.session.scalar(select(func.count(Membership.id))) == 0


def test_duplicate_identifier_is_explained(client, signed_in, factory, db):
    factory.org("First", org_identifier="GB-CHC-1164883")
    response = client.post(
        "/orgs/new", data={"name": "Second", "kind": "applicant", "identifier": "GB-CHC-1164883"}
    )
    assert response.status_code == 422
    assert "already registered" in response.get_data(as_text=True)
    assert org_count(db) == 1


def test_an_organisation_named_new_stays_reachable(client, signed_in, db):
    response = client.post("/orgs/new", data={"name": "New", "kind": "other"})
    assert response.location == "/orgs/new-2"
    assert client.get("/orgs/new-2").status_code == 200


# --- list and page ----------------------------------------------------------------------


def test_index_lists_and_filters_by_kind(client, factory):
    factory.org("Alpha Applicants")
    factory.org("Beta Fund", kind=OrgKind.FUNDER)
    html = client.get("/orgs/").get_data(as_text=True)
    assert "Alpha Applicants" in html and "Beta Fund" in html
    html = client.get("/orgs/?kind=funder").get_data(as_text=True)
    assert "Beta Fund" in html and "Alpha Applicants" not in html
    assert "Alpha Applicants" in client.get("/orgs/?kind=nonsense").get_data(as_text=True)


def test_unknown_organisation_is_404(client):
    assert client.get("/orgs/no-such-org").status_code == 404


def test_page_shows_published_bids_and_funders_but_hides_drafts(client, factory):
    org = factory.org("Riverside Trust", org_identifier="GB-CHC-2")
    factory.bid(org, title="Open bid one", funder={"name": "Fund A"})
    factory.bid(org, title="Open bid two", funder={"name": "Fund A"})
    factory.bid(org, title="Open bid three", funder={"name": "Fund B"})
    factory.bid(org, title="Secret draft", published=False, funder={"name": "Fund Secret"})
    html = client.get(f"/orgs/{org.slug}").get_data(as_text=True)
    assert "Open bid one" in html and "Open bid three" in html
    assert "Secret draft" not in html and "Fund Secret" not in html
    assert re.search(r"Fund A</a>\s*<span class=\"muted\">\(2 bids\)", html)
    assert re.search(r"Fund B</a>\s*<span class=\"muted\">\(1 bid\)", html)
    assert "Edit details" not in html and "/members" not in html


def test_members_see_drafts_labelled(client, owned, factory):
    factory.bid(owned, title="Our draft", published=False)
    factory.bid(owned, title="Our public bid")
    html = client.get(f"/orgs/{owned.slug}").get_data(as_text=True)
    assert "Our draft" in html and "Draft: only your organisation can see this" in html
    assert html.count("Draft: only your organisation") == 1
    assert "Edit details" in html and f"/orgs/{owned.slug}/members" in html


def test_funder_page_lists_bids_it_received(client, factory, db):
    applicant = factory.org("Hillside Youth")
    factory.bid(applicant, title="Youth club bid", funder={"name": "Big Fund"})
    factory.bid(
        applicant, title="Hidden draft to fund", published=False, funder={"name": "Big Fund"}
    )
    funder = db.session.scalar(select(Organisation).where(Organisation.name == "Big Fund"))
    assert funder.kind == OrgKind.FUNDER
    html = client.get(f"/orgs/{funder.slug}").get_data(as_text=True)
    assert "Bids received by Big Fund" in html
    received = html.split("Bids received by Big Fund", 1)[1]
    assert "Youth club bid" in received and "Hillside Youth" in received
    assert "Hidden draft to fund" not in html


def test_bid_lists_are_paginated_by_twenty(client, factory):
    org = factory.org("Prolific")
    for n in range(21):
        factory.bid(org, title=f"Numbered bid {n:02d}")
    first = client.get(f"/orgs/{org.slug}").get_data(as_text=True)
    assert first.count("Numbered bid") == 20 and "Numbered bid 00" not in first
    assert "Page 1 of 2" in first and f'href="/orgs/{org.slug}?page=2"' in first
    second = client.get(f"/orgs/{org.slug}?page=2").get_data(as_text=True)
    assert second.count("Numbered bid") == 1 and "Numbered bid 00" in second
    assert client.get(f"/orgs/{org.slug}?page=99").status_code == 200


def test_organisation_text_is_escaped(client, factory, db):
    org = factory.org("Safe <b>name</b>", website='https://x.example/"><script>alert(2)</script>')
    org.description = "<script>alert(1)</script>"
    db.session.commit()
    html = client.get(f"/orgs/{org.slug}").get_data(as_text=True)
    assert "<script>" not in html and "<b>name</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- edit -------------------------------------------------------------------------------


def test_owner_edits_details(client, owned, db):
    owned.regions = ["Wales", "Swansea"]
    db.session.commit()
    form = client.get(f"/orgs/{owned.slug}/edit").get_data(as_text=True)
    assert 'value="Riverside Trust"' in form
    assert re.search(r'checked[^>]*value="Wales"|value="Wales"[^>]*checked', form)
    assert 'value="Swansea"' in form
    response = client.post(
        f"/orgs/{owned.slug}/edit",
        data={
            "name": "Riverside Trust Cymru",
            "kind": "collective",
            "identifier": "",
            "website": "",
            "description": "New words",
            "regions": ["Scotland"],
            "other_regions": "",
        },
    )
    assert response.status_code == 302
    db.session.refresh(owned)
    assert (owned.name, owned.kind, owned.regions, owned.description) == (
        "Riverside Trust Cymru",
        "collective",
        ["Scotland"],
        "New words",
    )


def test_edit_with_bad_input_changes_nothing(client, owned, db):
    response = client.post(
        f"/orgs/{owned.slug}/edit",
        data={
            "name": "Changed",
            "kind": "applicant",
            "identifier": "bad",
            "website": "",
        },
    )
    assert response.status_code == 422 and "org-id form" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Organisation, owned.id).name == "Riverside Trust"


def test_editors_and_outsiders_cannot_edit(client, auth, factory, db):
    org = factory.org("Guarded")
    factory.user("ed@example.org", org=org, role=Role.EDITOR)
    auth.login("ed@example.org")
    assert client.get(f"/orgs/{org.slug}/edit").status_code == 403
    assert (
        client.post(f"/orgs/{org.slug}/edit", data={"name": "Taken", "kind": "other"}).status_code
        == 403
    )
    auth.logout()
    factory.user("out@example.org")
    auth.login("out@example.org")
    assert client.get(f"/orgs/{org.slug}/edit").status_code == 403
    db.session.expire_all()
    assert db.session.get(Organisation, org.id).name == "Guarded"


# --- members and invitations ------------------------------------------------------------


def test_owner_invites_and_the_link_is_shown(client, owned, db):
    response = client.post(f"/orgs/{owned.slug}/invitations", data={"role": "editor"})
    assert response.status_code == 302
    invitation = db.session.scalar(select(Invitation))
    html = client.get(f"/orgs/{owned.slug}/members").get_data(as_text=True)
    assert f"http://localhost/orgs/join/{invitation.token}" in html
    assert "Invitation link created" in html


def test_invitation_with_bad_role_is_refused(client, owned, db):
    client.post(f"/orgs/{owned.slug}/invitations", data={"role": "admin"})
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_owner_revokes_an_invitation(client, owned, signed_in, db):
    invitation = create_invitation(signed_in, owned)
    db.session.commit()
    response = client.post(f"/orgs/{owned.slug}/invitations/{invitation.id}/revoke")
    assert response.status_code == 302
    db.session.refresh(invitation)
    assert invitation.revoked_at is not None
    assert client.get(f"/orgs/join/{invitation.token}").status_code == 404
    assert invitation.token not in client.get(f"/orgs/{owned.slug}/members").get_data(as_text=True)


def test_invitation_of_another_org_cannot_be_revoked_through_mine(client, owned, factory, db):
    other = factory.org("Other Org")
    other_owner = factory.user(org=other)
    invitation = create_invitation(other_owner, other)
    db.session.commit()
    assert client.post(f"/orgs/{owned.slug}/invitations/{invitation.id}/revoke").status_code == 404
    db.session.refresh(invitation)
    assert invitation.revoked_at is None


def test_editor_sees_members_but_cannot_manage(client, auth, factory, db):
    org = factory.org("Team")
    owner = factory.user("own@example.org", "Olu Owner", org=org)
    editor = factory.user("ed@example.org", "Eddie Editor", org=org, role=Role.EDITOR)
    auth.login("ed@example.org")
    html = client.get(f"/orgs/{org.slug}/members").get_data(as_text=True)
    assert "Olu Owner" in html and "Eddie Editor" in html
    assert "Create invitation link" not in html and "Leave Team" in html
    assert client.post(f"/orgs/{org.slug}/invitations", data={"role": "editor"}).status_code == 403
    assert client.post(f"/orgs/{org.slug}/members/{owner.id}/remove").status_code == 403
    assert (
        client.post(
            f"/orgs/{org.slug}/members/{editor.id}/role", data={"role": "owner"}
        ).status_code
        == 403
    )
    db.session.expire_all()
    assert editor.role_in(org.id) == Role.EDITOR and owner.role_in(org.id) == Role.OWNER


def test_outsider_cannot_see_members(client, signed_in, factory):
    org = factory.org("Private Team")
    assert client.get(f"/orgs/{org.slug}/members").status_code == 403


def test_owner_removes_and_promotes_members(client, owned, factory, db):
    ed = factory.user("ed@example.org", "Eddie", org=owned, role=Role.EDITOR)
    fay = factory.user("fay@example.org", "Fay", org=owned, role=Role.EDITOR)
    assert (
        client.post(f"/orgs/{owned.slug}/members/{ed.id}/role", data={"role": "owner"}).status_code
        == 302
    )
    assert client.post(f"/orgs/{owned.slug}/members/{fay.id}/remove").status_code == 302
    db.session.expire_all()
    assert ed.role_in(owned.id) == Role.OWNER and fay.role_in(owned.id) is None
    assert "Fay" not in client.get(f"/orgs/{owned.slug}/members").get_data(as_text=True)


def test_last_owner_cannot_leave(client, owned, signed_in, db):
    response = client.post(f"/orgs/{owned.slug}/leave", follow_redirects=True)
    assert "at least one owner" in response.get_data(as_text=True)
    db.session.expire_all()
    assert signed_in.role_in(owned.id) == Role.OWNER
    response = client.post(
        f"/orgs/{owned.slug}/members/{signed_in.id}/role",
        data={"role": "editor"},
        follow_redirects=True,
    )
    assert "at least one owner" in response.get_data(as_text=True)


def test_member_leaves(client, auth, factory, db):
    org = factory.org("Team")
    factory.user(org=org)
    ed = factory.user("ed@example.org", org=org, role=Role.EDITOR)
    auth.login("ed@example.org")
    response = client.post(f"/orgs/{org.slug}/leave")
    assert response.location == f"/orgs/{org.slug}"
    db.session.expire_all()
    assert ed.role_in(org.id) is None


# --- join by invitation -----------------------------------------------------------------


@pytest.fixture
def invitation(factory, db):
    org = factory.org("Welcoming Org")
    owner = factory.user("host@example.org", org=org)
    invitation = create_invitation(owner, org, Role.EDITOR)
    db.session.commit()
    return invitation


def test_signed_out_visitor_is_offered_sign_in_or_up_and_returns(client, invitation, db):
    path = f"/orgs/join/{invitation.token}"
    html = client.get(path).get_data(as_text=True)
    assert "Welcoming Org" in html and "an editor" in html
    assert f'href="/signup?next=/orgs/join/{invitation.token}"' in html
    assert f'href="/login?next=/orgs/join/{invitation.token}"' in html
    # Posting while signed out accepts nothing and sends to sign-in.
    assert client.post(path).location.startswith("/login?next=")
    assert db.session.scalar(select(func.count(Membership.id))) == 1
    # Sign up through the link, come back, accept.
    response = client.post(
        "/signup",
        data={
            "display_name": "Newbie",
            "email": "newbie@example.org",
            "password": PASSWORD,
            "next": path,
        },
    )
    assert response.location == path
    assert "Accept and join Welcoming Org" in client.get(path).get_data(as_text=True)
    response = client.post(path)
    assert response.status_code == 302 and response.location == "/orgs/welcoming-org"
    membership = db.session.scalar(select(Membership).where(Membership.role == Role.EDITOR))
    assert membership.user.email == "newbie@example.org"
    assert client.get(path).status_code == 404  # single use


def test_existing_member_is_told_so(client, auth, invitation):
    auth.login("host@example.org")
    html = client.get(f"/orgs/join/{invitation.token}").get_data(as_text=True)
    assert "already a member" in html and "Accept and join" not in html


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown"])
def test_closed_invitations_are_404(client, signed_in, invitation, db, state):
    token = invitation.token
    if state == "expired":
        from datetime import timedelta

        invitation.expires_at = utcnow() - timedelta(minutes=1)
    elif state == "revoked":
        invitation.revoked_at = utcnow()
    else:
        token = "not-a-token"
    db.session.commit()
    response = client.get(f"/orgs/join/{token}")
    assert response.status_code == 404
    assert "used, revoked or expired" in response.get_data(as_text=True)
    assert client.post(f"/orgs/join/{token}").status_code == 404
    assert signed_in.role_in(invitation.organisation_id) is None
