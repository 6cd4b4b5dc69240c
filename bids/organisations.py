"""Organisations, memberships and invitation links."""

from __future__ import annotations

import secrets
from datetime import timedelta

from slugify import slugify
from sqlalchemy import func, select

from bids.access import is_owner
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_org_identifier, clean_org_kind, clean_tags
from bids.models import Invitation, Membership, Organisation, OrgKind, Role, User

INVITATION_LIFETIME = timedelta(days=14)


def unique_slug(name: str) -> str:
    base = slugify(name, max_length=100) or "organisation"
    slug, n = base, 1
    while db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def get_organisation_by_slug(slug: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise NotFound("No such organisation.")
    return org


def organisation_with_identifier(identifier: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.org_identifier == identifier))


def find_organisation(name: str, identifier: str | None = None) -> Organisation | None:
    """By identifier first (it is authoritative), else by case-insensitive name."""
    if identifier:
        org = organisation_with_identifier(identifier)
        if org is not None:
            return org
    return db.session.scalar(
        select(Organisation)
        .where(func.lower(Organisation.name) == name.strip().lower())
        .order_by(Organisation.id)
        .limit(1)
    )


def find_or_create_organisation(
    name: str, identifier: str | None = None, kind: str = OrgKind.APPLICANT
) -> Organisation:
    org = find_organisation(name, identifier)
    if org is None:
        org = Organisation(
            name=name.strip(),
            slug=unique_slug(name),
            kind=kind,
            org_identifier=identifier,
            regions=[],
            description="",
        )
        db.session.add(org)
        db.session.flush()
    elif identifier and not org.org_identifier:
        org.org_identifier = identifier
    return org


def create_organisation(founder: User, data: dict) -> Organisation:
    """A signed-in user creates an organisation and becomes its owner."""
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = "Name is required."
    elif len(name) > 200:
        errors["name"] = "Name must be at most 200 characters."
    try:
        kind = clean_org_kind(data.get("kind"))
    except ValidationError as exc:
        errors.update(exc.errors)
        kind = OrgKind.APPLICANT
    identifier = None
    try:
        identifier = clean_org_identifier(data.get("identifier"))
    except ValidationError as exc:
        errors.update(exc.errors)
    if identifier and organisation_with_identifier(identifier):
        errors["identifier"] = "An organisation with this identifier is already registered."
    website = (data.get("website") or "").strip() or None
    if website and not website.startswith(("http://", "https://")):
        errors["website"] = "Website must start with http:// or https://."
    try:
        regions = clean_tags(data.get("regions"))
    except ValidationError as exc:
        errors["regions"] = next(iter(exc.errors.values()))
        regions = []
    if errors:
        raise ValidationError(errors)
    org = Organisation(
        name=name,
        slug=unique_slug(name),
        kind=kind,
        org_identifier=identifier,
        website=website,
        description=(data.get("description") or "").strip()[:5000],
        regions=regions,
    )
    db.session.add(org)
    db.session.add(Membership(user=founder, organisation=org, role=Role.OWNER))
    db.session.flush()
    return org


def update_organisation(actor: User, org: Organisation, data: dict) -> Organisation:
    if not is_owner(actor, org):
        raise Forbidden("Only an owner can change the organisation's details.")
    errors: dict[str, str] = {}
    if "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = "Name is required."
        else:
            org.name = name[:200]
    if "identifier" in data:
        try:
            org.org_identifier = clean_org_identifier(data.get("identifier"))
        except ValidationError as exc:
            errors.update(exc.errors)
    if "website" in data:
        website = (data.get("website") or "").strip() or None
        if website and not website.startswith(("http://", "https://")):
            errors["website"] = "Website must start with http:// or https://."
        else:
            org.website = website
    if "description" in data:
        org.description = (data.get("description") or "").strip()[:5000]
    if "regions" in data:
        try:
            org.regions = clean_tags(data.get("regions"))
        except ValidationError as exc:
            errors["regions"] = next(iter(exc.errors.values()))
    if errors:
        raise ValidationError(errors)
    db.session.flush()
    return org


def create_invitation(actor: User, org: Organisation, role: str = Role.EDITOR) -> Invitation:
    if not is_owner(actor, org):
        raise Forbidden("Only an owner can invite people.")
    if role not in {r.value for r in Role}:
        raise ValidationError({"role": "Role must be owner or editor."})
    invitation = Invitation(
        token=secrets.token_urlsafe(32),
        organisation=org,
        role=role,
        created_by=actor,
        expires_at=utcnow() + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation


def get_open_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(select(Invitation).where(Invitation.token == token))
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at < utcnow()
    ):
        raise NotFound("This invitation is not valid: it may have been used, revoked or expired.")
    return invitation


def accept_invitation(user: User, token: str) -> Membership:
    invitation = get_open_invitation(token)
    existing = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == invitation.organisation_id
        )
    )
    invitation.accepted_by_id = user.id
    invitation.accepted_at = utcnow()
    if existing is not None:
        return existing
    membership = Membership(user=user, organisation=invitation.organisation, role=invitation.role)
    db.session.add(membership)
    db.session.flush()
    return membership


def revoke_invitation(actor: User, invitation: Invitation) -> None:
    if not is_owner(actor, invitation.organisation):
        raise Forbidden("Only an owner can revoke invitations.")
    invitation.revoked_at = utcnow()


def remove_member(actor: User, org: Organisation, user_id: int) -> None:
    """Owners remove members; anyone may leave. The last owner cannot go."""
    if actor.id != user_id and not is_owner(actor, org):
        raise Forbidden("Only an owner can remove members.")
    membership = db.session.scalar(
        select(Membership).where(
            Membership.organisation_id == org.id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("No such member.")
    if membership.role == Role.OWNER:
        owners = db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.organisation_id == org.id, Membership.role == Role.OWNER
            )
        )
        if owners <= 1:
            raise ValidationError("An organisation needs at least one owner: appoint another first.")
    db.session.delete(membership)
    db.session.flush()


def open_invitations(org: Organisation) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.organisation_id == org.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at >= utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )
