"""Claiming an organisation nobody manages (a funder first named by a bid): request, admin
decision."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bids.claims import decide_claim, open_claims, request_claim
from bids.errors import Forbidden, NotFound, ValidationError
from bids.models import Membership, OrganisationClaim, OrgKind, Role
from bids.organisations import create_organisation

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def people(factory, db):
    funder = factory.org("Garden Fund", kind=OrgKind.FUNDER)  # as a bid's import lists it
    managed = factory.org("Riverside Trust")
    owner = factory.user("owner@example.org", "Olu Owner", org=managed)
    ann = factory.user("ann@example.org", "Ann Example")
    bob = factory.user("bob@example.org", "Bob Example")
    admin = factory.user("admin@example.org", "Site Admin", admin=True)
    db.session.commit()
    return {
        "funder": funder,
        "managed": managed,
        "owner": owner,
        "ann": ann,
        "bob": bob,
        "admin": admin,
    }


def role(db, user, org):
    return db.session.scalar(
        select(Membership.role).where(
            Membership.user_id == user.id, Membership.organisation_id == org.id
        )
    )


def test_a_claim_is_asked_once_and_only_for_an_organisation_nobody_manages(db, people):
    funder = people["funder"]
    claim = request_claim(people["ann"], funder, "Grants officer; ann@gardenfund.example")
    again = request_claim(people["ann"], funder, "")
    assert again.id == claim.id and again.message.startswith("Grants officer")
    with pytest.raises(ValidationError) as managed:
        request_claim(people["bob"], people["managed"], "mine")
    assert "already has members" in managed.value.errors["organisation"]
    with pytest.raises(Forbidden):
        request_claim(None, funder, "")
    with pytest.raises(ValidationError):
        request_claim(people["bob"], funder, "x" * 2001)
    db.session.commit()
    assert len(open_claims(people["admin"])) == 1


def test_approval_makes_the_claimant_owner_and_refuses_rival_claims(db, people):
    funder = people["funder"]
    ann = request_claim(people["ann"], funder)
    bob = request_claim(people["bob"], funder)
    db.session.commit()
    for outsider in (None, people["ann"], people["owner"]):
        with pytest.raises(NotFound):  # the queue is invisible to everyone but admins
            open_claims(outsider)
        with pytest.raises(NotFound):
            decide_claim(outsider, ann.id, True)
    decide_claim(people["admin"], ann.id, True)
    db.session.commit()
    assert role(db, people["ann"], funder) == Role.OWNER
    assert db.session.get(OrganisationClaim, bob.id).approved is False
    assert open_claims(people["admin"]) == []
    with pytest.raises(NotFound):  # decided once
        decide_claim(people["admin"], ann.id, False)


def test_a_claim_on_an_organisation_that_gained_members_cannot_be_approved(db, people):
    claim = request_claim(people["bob"], people["funder"])
    db.session.add(Membership(user=people["ann"], organisation=people["funder"], role=Role.OWNER))
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        decide_claim(people["admin"], claim.id, True)
    assert "has members now" in refused.value.errors["claim"]
    assert role(db, people["bob"], people["funder"]) is None
    decide_claim(people["admin"], claim.id, False)  # refusing still works
    assert claim.approved is False


def test_a_second_organisation_under_a_listed_name_is_refused_with_the_way_to_the_first(db, people):
    with pytest.raises(ValidationError) as unmanaged:
        create_organisation(people["bob"], {"name": "garden fund", "kind": "funder"})
    assert "/orgs/garden-fund" in unmanaged.value.errors["name"]
    assert "ask to manage it there" in unmanaged.value.errors["name"]
    with pytest.raises(ValidationError) as managed:
        create_organisation(people["bob"], {"name": "Riverside Trust"})
    assert "ask one of its members to invite you" in managed.value.errors["name"]
    # Two organisations that share a name but not their registered identifiers are distinct.
    people["managed"].org_identifier = "GB-CHC-1000001"
    other = create_organisation(
        people["bob"], {"name": "Riverside Trust", "identifier": "GB-CHC-1000002"}
    )
    assert other.slug != people["managed"].slug


def test_claim_flow_through_the_pages(client, auth, db, people):
    page = client.get("/orgs/garden-fund").get_data(as_text=True)
    assert "Ask to manage" not in page  # signed out: nothing to ask with
    auth.login("ann@example.org")
    page = client.get("/orgs/garden-fund").get_data(as_text=True)
    assert "Nobody manages this organisation yet" in page and "Ask to manage Garden Fund" in page
    assert "Ask to manage" not in client.get("/orgs/riverside-trust").get_data(as_text=True)
    response = client.post("/orgs/garden-fund/claim", data={"message": "Grants officer"})
    assert response.status_code == 302
    page = client.get("/orgs/garden-fund").get_data(as_text=True)
    assert "is with the site&#39;s admins" in page and "Ask to manage Garden Fund" not in page
    assert client.get("/orgs/claims").status_code == 404
    claim_id = db.session.scalar(select(OrganisationClaim.id))
    assert client.post(f"/orgs/claims/{claim_id}", data={"decision": "approve"}).status_code == 404
    auth.logout()

    auth.login("admin@example.org")
    queue = client.get("/orgs/claims").get_data(as_text=True)
    assert "Ann Example" in queue and "Grants officer" in queue and "Garden Fund" in queue
    unclear = client.post(
        f"/orgs/claims/{claim_id}", data={"decision": "maybe"}, follow_redirects=True
    )
    assert "Nothing was decided" in unclear.get_data(as_text=True)
    assert db.session.get(OrganisationClaim, claim_id).is_open
    done = client.post(
        f"/orgs/claims/{claim_id}", data={"decision": "approve"}, follow_redirects=True
    )
    assert "Ann Example now owns Garden Fund." in done.get_data(as_text=True)
    auth.logout()

    auth.login("ann@example.org")
    assert client.get("/orgs/garden-fund/members").status_code == 200
    assert "Nobody manages" not in client.get("/orgs/garden-fund").get_data(as_text=True)
