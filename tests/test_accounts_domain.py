"""Unit tests of bids.accounts and bids.organisations (users, tokens, memberships, invitations)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bids.accounts import (
    authenticate,
    change_password,
    create_api_token,
    create_user,
    revoke_api_token,
    update_display_name,
    user_for_token,
    user_tokens,
)
from bids.database import utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.models import ApiToken, Membership, OrgKind, Role, User
from bids.organisations import (
    accept_invitation,
    create_invitation,
    create_organisation,
    funders_applied_to,
    get_invitation,
    members_of,
    open_invitations,
    organisation_bids_query,
    remove_member,
    revoke_invitation,
    set_member_role,
    unique_slug,
    update_organisation,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("fast_passwords")


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- users ------------------------------------------------------------------------------


def test_create_user_stores_lower_case_email_and_hashed_password(db, monkeypatch):
    monkeypatch.undo()  # the real, default hashing
    user = create_user("  Ada@Example.ORG ", "Ada", "a long enough password")
    db.session.commit()
    assert user.email == "ada@example.org"
    assert user.password_hash.startswith("scrypt:")
    assert "a long enough password" not in user.password_hash
    assert user.check_password("a long enough password")


def test_email_is_unique_case_insensitively(db):
    create_user("ada@example.org", "Ada", "a long enough password")
    db.session.commit()
    with pytest.raises(ValidationError) as exc:
        create_user("ADA@example.org", "Other Ada", "another long password")
    assert "already exists" in exc.value.errors["email"]
    assert count(db, User) == 1


@pytest.mark.parametrize(
    ("email", "name", "password", "field"),
    [
        ("not-an-email", "Ada", "a long enough password", "email"),
        ("ada@example.org", "   ", "a long enough password", "display_name"),
        ("ada@example.org", "Ada", "short", "password"),
        ("ada@example.org", "A" * 121, "a long enough password", "display_name"),
    ],
)
def test_create_user_rejects_bad_input_and_adds_nothing(db, email, name, password, field):
    with pytest.raises(ValidationError) as exc:
        create_user(email, name, password)
    assert field in exc.value.errors
    db.session.rollback()
    assert count(db, User) == 0


def test_authenticate(db, factory):
    factory.user("bea@example.org")
    assert authenticate("BEA@example.org", PASSWORD).email == "bea@example.org"
    assert authenticate("bea@example.org", "wrong password!") is None
    assert authenticate("nobody@example.org", PASSWORD) is None


# --- API tokens -------------------------------------------------------------------------


def test_token_create_use_and_revoke(db, factory):
    user = factory.user()
    token, secret = create_api_token(user, "my script")
    db.session.commit()
    assert secret.startswith("ob_") and len(secret) > 40
    assert token.token_hash != secret and secret not in token.token_hash  # only the hash is kept
    assert token.prefix == secret[:10]
    assert user_for_token(secret) == user
    assert token.last_used_at is not None
    assert user_for_token(secret + "x") is None
    assert user_for_token("") is None

    revoke_api_token(user, token.id)
    db.session.commit()
    assert user_for_token(secret) is None
    assert [t.id for t in user_tokens(user)] == [token.id]


def test_token_of_another_user_cannot_be_revoked(db, factory):
    owner, other = factory.user(), factory.user()
    token, secret = create_api_token(owner)
    db.session.commit()
    with pytest.raises(NotFound):
        revoke_api_token(other, token.id)
    with pytest.raises(NotFound):
        revoke_api_token(owner, token.id + 1000)
    assert user_for_token(secret) == owner
    assert db.session.get(ApiToken, token.id).revoked_at is None


# --- organisations ----------------------------------------------------------------------


def test_create_organisation_makes_the_founder_owner(db, factory):
    founder = factory.user()
    org = create_organisation(
        founder,
        {
            "name": "Glasgow Food Network",
            "kind": "collective",
            "identifier": "gb-scot-sc012345",
            "website": "https://example.org",
            "regions": "Scotland; Glasgow; scotland",
        },
    )
    db.session.commit()
    assert org.slug == "glasgow-food-network"
    assert org.kind == OrgKind.COLLECTIVE
    assert org.org_identifier == "GB-SCOT-SC012345"
    assert org.regions == ["Scotland", "Glasgow"]
    assert founder.role_in(org.id) == Role.OWNER


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "X", "identifier": "1164883"}, "identifier"),
        ({"name": "X", "identifier": "GB CHC 1164883"}, "identifier"),
        ({"name": "X", "kind": "bank"}, "kind"),
        ({"name": "X", "website": "javascript:alert(1)"}, "website"),
    ],
)
def test_create_organisation_rejects_bad_input(db, factory, data, field):
    founder = factory.user()
    with pytest.raises(ValidationError) as exc:
        create_organisation(founder, data)
    assert field in exc.value.errors
    db.session.rollback()
    assert count(db, Membership) == 0


def test_duplicate_identifier_is_refused(db, factory):
    founder = factory.user()
    create_organisation(founder, {"name": "A", "identifier": "GB-CHC-1164883"})
    with pytest.raises(ValidationError) as exc:
        create_organisation(founder, {"name": "B", "identifier": "gb-chc-1164883"})
    assert "already registered" in exc.value.errors["identifier"]


def test_slugs_are_unique_and_never_shadow_routes(db, factory):
    factory.org("Hope")
    assert unique_slug("Hope") == "hope-2"
    assert unique_slug("New") == "new-2"
    assert unique_slug("Join") == "join-2"


def test_update_organisation_checks_everything_before_changing_anything(db, factory):
    org = factory.org("Old Name")
    owner = factory.user(org=org)
    factory.org("Other", org_identifier="GB-CHC-1")
    with pytest.raises(ValidationError) as exc:
        update_organisation(owner, org, {"name": "New Name", "identifier": "nonsense"})
    assert "identifier" in exc.value.errors
    assert org.name == "Old Name"
    with pytest.raises(ValidationError):
        update_organisation(owner, org, {"identifier": "GB-CHC-1"})
    update_organisation(owner, org, {"name": "New Name", "kind": "funder", "regions": ["Wales"]})
    assert (org.name, org.kind, org.regions) == ("New Name", "funder", ["Wales"])


def test_only_owners_update_an_organisation(db, factory):
    org = factory.org("Mine")
    editor = factory.user(org=org, role=Role.EDITOR)
    with pytest.raises(Forbidden):
        update_organisation(editor, org, {"name": "Taken over"})
    with pytest.raises(Forbidden):
        update_organisation(factory.user(), org, {"name": "Taken over"})
    assert org.name == "Mine"


# --- invitations ------------------------------------------------------------------------


@pytest.fixture
def team(factory):
    org = factory.org("Team Org")
    owner = factory.user("owner@example.org", "Olu Owner", org=org)
    return org, owner


def test_invitation_is_accepted_once(db, factory, team):
    org, owner = team
    invitation = create_invitation(owner, org, Role.EDITOR)
    db.session.commit()
    newcomer, latecomer = factory.user(), factory.user()
    membership = accept_invitation(newcomer, invitation.token)
    db.session.commit()
    assert membership.role == Role.EDITOR
    assert newcomer.role_in(org.id) == Role.EDITOR
    with pytest.raises(NotFound):
        accept_invitation(latecomer, invitation.token)
    assert latecomer.role_in(org.id) is None
    assert open_invitations(org) == []


def test_expired_invitation_fails(db, factory, team):
    org, owner = team
    invitation = create_invitation(owner, org)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(NotFound):
        accept_invitation(factory.user(), invitation.token)
    assert open_invitations(org) == []


def test_revoked_invitation_fails(db, factory, team):
    org, owner = team
    invitation = create_invitation(owner, org, Role.OWNER)
    db.session.commit()
    assert open_invitations(org) == [invitation]
    revoke_invitation(owner, invitation)
    db.session.commit()
    with pytest.raises(NotFound):
        accept_invitation(factory.user(), invitation.token)
    with pytest.raises(ValidationError):
        revoke_invitation(owner, invitation)  # already closed


def test_only_owners_invite_and_revoke(db, factory, team):
    org, owner = team
    editor = factory.user(org=org, role=Role.EDITOR)
    with pytest.raises(Forbidden):
        create_invitation(editor, org)
    invitation = create_invitation(owner, org)
    with pytest.raises(Forbidden):
        revoke_invitation(editor, invitation)
    with pytest.raises(ValidationError):
        create_invitation(owner, org, "admin")


def test_get_invitation_is_scoped_to_its_organisation(db, factory, team):
    org, owner = team
    invitation = create_invitation(owner, org)
    with pytest.raises(NotFound):
        get_invitation(factory.org("Elsewhere"), invitation.id)
    assert get_invitation(org, invitation.id) == invitation


# --- memberships ------------------------------------------------------------------------


def test_owner_removes_a_member_and_editors_cannot(db, factory, team):
    org, owner = team
    editor = factory.user(org=org, role=Role.EDITOR)
    other_editor = factory.user(org=org, role=Role.EDITOR)
    with pytest.raises(Forbidden):
        remove_member(editor, org, other_editor.id)
    with pytest.raises(Forbidden):
        remove_member(editor, org, owner.id)
    remove_member(owner, org, other_editor.id)
    db.session.commit()
    assert other_editor.role_in(org.id) is None
    with pytest.raises(NotFound):
        remove_member(owner, org, other_editor.id)


def test_anyone_can_leave_but_the_last_owner(db, factory, team):
    org, owner = team
    editor = factory.user(org=org, role=Role.EDITOR)
    remove_member(editor, org, editor.id)
    db.session.commit()
    assert editor.role_in(org.id) is None
    with pytest.raises(ValidationError):
        remove_member(owner, org, owner.id)
    second_owner = factory.user(org=org, role=Role.OWNER)
    remove_member(second_owner, org, owner.id)  # an owner removes another owner
    db.session.commit()
    assert owner.role_in(org.id) is None
    with pytest.raises(ValidationError):
        remove_member(second_owner, org, second_owner.id)  # now the last one


def test_roles_change_but_the_last_owner_stays(db, factory, team):
    org, owner = team
    editor = factory.user(org=org, role=Role.EDITOR)
    with pytest.raises(ValidationError):
        set_member_role(owner, org, owner.id, Role.EDITOR)
    with pytest.raises(Forbidden):
        set_member_role(editor, org, editor.id, Role.OWNER)
    set_member_role(owner, org, editor.id, Role.OWNER)
    set_member_role(owner, org, owner.id, Role.EDITOR)
    db.session.commit()
    assert (owner.role_in(org.id), editor.role_in(org.id)) == (Role.EDITOR, Role.OWNER)
    with pytest.raises(ValidationError):
        set_member_role(editor, org, owner.id, "boss")


def test_members_list_is_for_members(db, factory, team):
    org, owner = team
    editor = factory.user(org=org, role=Role.EDITOR, name="Ed")
    assert [m.user for m in members_of(owner, org)] == [owner, editor]  # owners first
    with pytest.raises(Forbidden):
        members_of(factory.user(), org)


# --- an organisation's bids -------------------------------------------------------------


def test_bids_and_funders_respect_visibility(db, factory, team):
    org, owner = team
    factory.bid(org, title="Public one", funder={"name": "Fund A"})
    factory.bid(org, title="Public two", funder={"name": "Fund A"})
    factory.bid(org, title="Public three", funder={"name": "Fund B"})
    factory.bid(org, title="Secret draft", published=False, funder={"name": "Fund C"})

    outsider = factory.user()
    titles = [b.title for b in db.session.scalars(organisation_bids_query(outsider, org))]
    assert titles == ["Public three", "Public two", "Public one"]
    member_titles = [b.title for b in db.session.scalars(organisation_bids_query(owner, org))]
    assert "Secret draft" in member_titles and len(member_titles) == 4

    assert [(f.name, n) for f, n in funders_applied_to(None, org)] == [("Fund A", 2), ("Fund B", 1)]
    assert ("Fund C", 1) in [(f.name, n) for f, n in funders_applied_to(owner, org)]


def test_display_name_change(db, factory):
    user = factory.user(name="Old")
    update_display_name(user, "  New Name ")
    assert user.display_name == "New Name"
    for bad in ("   ", "x" * 121):
        with pytest.raises(ValidationError):
            update_display_name(user, bad)
    assert user.display_name == "New Name"


def test_change_password_needs_the_current_one(db, factory):
    user = factory.user()
    with pytest.raises(ValidationError) as exc:
        change_password(user, "wrong password", "a brand new password")
    assert "current_password" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        change_password(user, PASSWORD, "short")
    assert "new_password" in exc.value.errors
    assert user.check_password(PASSWORD)
    change_password(user, PASSWORD, "a brand new password")
    assert user.check_password("a brand new password") and not user.check_password(PASSWORD)
