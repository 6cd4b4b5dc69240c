"""Claims: asking to manage an organisation that nobody manages yet, and the admins' decision.

An organisation first named by a bid (a funder, most often) has no members. Someone who runs
it asks to manage it (`request_claim`); a site admin approves, and they become its owner
(`decide_claim`). Creating a second organisation under the same name is refused, with the way
to the first (`listed_under_name`, `already_listed_message`).
"""

from __future__ import annotations

from sqlalchemy import func, select

from bids.access import real_user
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.models import Membership, Organisation, OrganisationClaim, Role, User

CLAIM_MESSAGE_MAX = 2000


def has_members(org: Organisation) -> bool:
    """Whether anyone manages the organisation."""
    members = db.session.scalar(
        select(func.count(Membership.id)).where(Membership.organisation_id == org.id)
    )
    return (members or 0) > 0


def listed_under_name(name: str, identifier: str | None) -> Organisation | None:
    """An organisation listed under this name (any case) that the identifier does not tell apart."""
    same = select(Organisation).where(func.lower(Organisation.name) == name.lower())
    for org in db.session.scalars(same):
        if not (identifier and org.org_identifier and org.org_identifier != identifier):
            return org
    return None


def already_listed_message(org: Organisation) -> str:
    """Why a second organisation under `org`'s name is refused, and the way to the first."""
    where = f"/orgs/{org.slug}"
    if has_members(org):
        return (
            f"{org.name} is already listed ({where}): ask one of its members to invite you, "
            "or give your organisation's own identifier if it is another organisation."
        )
    return (
        f"{org.name} is already listed ({where}) with nobody managing it: ask to manage it there."
    )


def can_claim(user, org: Organisation) -> bool:
    """Whether `user` may ask to manage `org`: signed in, and nobody manages it yet."""
    return real_user(user) is not None and not has_members(org)


def open_claim_of(user, org: Organisation) -> OrganisationClaim | None:
    """The user's undecided claim on `org`, if any."""
    user = real_user(user)
    if user is None:
        return None
    return db.session.scalar(
        select(OrganisationClaim).where(
            OrganisationClaim.organisation_id == org.id,
            OrganisationClaim.user_id == user.id,
            OrganisationClaim.decided_at.is_(None),
        )
    )


def request_claim(user, org: Organisation, message: str = "") -> OrganisationClaim:
    """Ask the site's admins to make `user` the owner of `org` (idempotent while open)."""
    user = real_user(user)
    if user is None:
        raise Forbidden("Sign in to ask to manage an organisation.")
    if has_members(org):
        raise ValidationError(
            {"organisation": f"{org.name} already has members: ask one of them to invite you."}
        )
    message = (message or "").strip()
    if len(message) > CLAIM_MESSAGE_MAX:
        raise ValidationError(
            {"message": f"Keep the message under {CLAIM_MESSAGE_MAX:,} characters."}
        )
    claim = open_claim_of(user, org)
    if claim is None:
        claim = OrganisationClaim(organisation=org, user=user, message=message)
        db.session.add(claim)
    elif message:
        claim.message = message
    db.session.flush()
    return claim


def _require_admin(user) -> User:
    user = real_user(user)
    if user is None or not user.is_admin:
        raise NotFound()  # the queue of claims is invisible to everyone else
    return user


def open_claims(admin) -> list[OrganisationClaim]:
    """Every undecided claim, oldest first, for the site's admins."""
    _require_admin(admin)
    return list(
        db.session.scalars(
            select(OrganisationClaim)
            .where(OrganisationClaim.decided_at.is_(None))
            .order_by(OrganisationClaim.created_at, OrganisationClaim.id)
        )
    )


def decide_claim(admin, claim_id: int, approve: bool) -> OrganisationClaim:
    """Approve (the claimant becomes owner; other open claims on it are refused) or refuse."""
    admin = _require_admin(admin)
    claim = db.session.get(OrganisationClaim, claim_id)
    if claim is None or not claim.is_open:
        raise NotFound()
    org = claim.organisation
    if approve and has_members(org):
        raise ValidationError(
            {"claim": f"{org.name} has members now: they can invite {claim.user.display_name}."}
        )
    now = utcnow()
    if approve:
        db.session.add(Membership(user=claim.user, organisation=org, role=Role.OWNER))
        for other in db.session.scalars(
            select(OrganisationClaim).where(
                OrganisationClaim.organisation_id == org.id,
                OrganisationClaim.id != claim.id,
                OrganisationClaim.decided_at.is_(None),
            )
        ):
            other.decided_at, other.approved, other.decided_by_id = now, False, admin.id
    claim.decided_at, claim.approved, claim.decided_by_id = now, approve, admin.id
    db.session.flush()
    return claim
