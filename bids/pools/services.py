"""Pools, their invitations and membership; the pool's other services live beside it
(`notices`, `programmes`, `pledges`, `introductions`) and are re-exported here.

Services check permissions (non-members get `NotFound`), change the session and
flush; the view, API or command that calls them commits, or rolls back when one raises
(the policy in `bids.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from bids.access import is_member
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_tags
from bids.models import Organisation, OrgKind, User
from bids.pools.access import get_member_pool, is_pool_owner, user_pool_orgs
from bids.pools.introductions import (  # noqa: F401  (re-exported)
    contacts,
    get_introduction_for,
    introductions_for,
    propose_introduction,
    respond_to_introduction,
)
from bids.pools.models import (
    NoticeSubject,
    Pool,
    PoolInvitation,
    PoolMember,
    PoolRole,
)
from bids.pools.notices import inbox, mark_read, notify_users, org_user_ids, unread_count  # noqa: F401
from bids.pools.pledges import (  # noqa: F401  (re-exported)
    CoFunding,
    active_pledges,
    bid_co_funding,
    co_funding,
    make_pledge,
    shared_pledges_for_bid,
    withdraw_pledge,
)
from bids.pools.programmes import (  # noqa: F401  (re-exported)
    create_programme,
    programmes,
    require_funder_member,
)


def _clean_pool(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if not partial or "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = "Name the pool."
        out["name"] = name[:200]
    if "purpose" in data:
        out["purpose"] = (data.get("purpose") or "").strip()[:5000]
    for key in ("themes", "geographies"):
        if key in data:
            try:
                out[key] = clean_tags(data.get(key))
            except ValidationError as exc:
                errors[key] = str(exc)
    if "share_pledges_with_applicants" in data:
        out["share_pledges_with_applicants"] = bool(data.get("share_pledges_with_applicants"))
    if errors:
        raise ValidationError(errors)
    return out


def create_pool(actor: User, funder: Organisation, data: Mapping[str, Any]) -> Pool:
    require_funder_member(actor, funder)
    pool = Pool(created_by_id=actor.id, **{"themes": [], "geographies": [], **_clean_pool(data)})
    pool.members.append(PoolMember(organisation=funder, role=PoolRole.OWNER))
    db.session.add(pool)
    db.session.flush()
    return pool


def update_pool(actor: User, pool: Pool, data: Mapping[str, Any]) -> Pool:
    get_member_pool(actor, pool.id)
    if not is_pool_owner(actor, pool):
        raise Forbidden("Only the pool's owner can change its details.")
    for key, value in _clean_pool(data, partial=True).items():
        setattr(pool, key, value)
    db.session.flush()
    return pool


def open_invitations(pool: Pool) -> list[PoolInvitation]:
    return list(
        db.session.scalars(
            select(PoolInvitation).where(
                PoolInvitation.pool_id == pool.id,
                PoolInvitation.accepted_at.is_(None),
                PoolInvitation.declined_at.is_(None),
                PoolInvitation.revoked_at.is_(None),
            )
        )
    )


def invitable_funders(pool: Pool) -> list[Organisation]:
    taken = pool.member_org_ids() | {i.organisation_id for i in open_invitations(pool)}
    return [
        o
        for o in db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.FUNDER)
            .order_by(Organisation.name)
        )
        if o.id not in taken
    ]


def invite_funder(actor: User, pool: Pool, org: Organisation, message: str = "") -> PoolInvitation:
    get_member_pool(actor, pool.id)
    if org.kind != OrgKind.FUNDER:
        raise ValidationError({"organisation": "Only funder organisations can join a pool."})
    if org.id in pool.member_org_ids():
        raise ValidationError({"organisation": f"{org.name} is already a member."})
    if any(i.organisation_id == org.id for i in open_invitations(pool)):
        raise ValidationError({"organisation": f"{org.name} has already been invited."})
    invitation = PoolInvitation(
        pool=pool, organisation=org, invited_by_id=actor.id, message=(message or "").strip()[:2000]
    )
    db.session.add(invitation)
    db.session.flush()
    notify_users(
        org_user_ids([org.id]),
        "invitation",
        f"{actor.display_name} invited {org.name} to join the pool “{pool.name}”.",
        NoticeSubject.POOL_INVITATION,
        invitation.id,
    )
    return invitation


def invitations_for(user: User) -> list[PoolInvitation]:
    if not user.organisation_ids():
        return []
    return list(
        db.session.scalars(
            select(PoolInvitation)
            .where(
                PoolInvitation.organisation_id.in_(user.organisation_ids()),
                PoolInvitation.accepted_at.is_(None),
                PoolInvitation.declined_at.is_(None),
                PoolInvitation.revoked_at.is_(None),
            )
            .order_by(PoolInvitation.created_at.desc())
        )
    )


def get_invitation_for(user: Any, invitation_id: int) -> PoolInvitation:
    invitation = db.session.get(PoolInvitation, invitation_id)
    if invitation is None or not is_member(user, invitation.organisation_id):
        raise NotFound("No such invitation.")
    return invitation


def respond_to_invitation(actor: User, invitation_id: int, accept: bool) -> PoolInvitation:
    invitation = get_invitation_for(actor, invitation_id)
    if not invitation.is_open:
        raise ValidationError("This invitation has already been answered or withdrawn.")
    if accept:
        invitation.accepted_at = utcnow()
        invitation.pool.members.append(PoolMember(organisation_id=invitation.organisation_id))
    else:
        invitation.declined_at = utcnow()
    db.session.flush()
    verb = "joined" if accept else "declined to join"
    notify_users(
        org_user_ids(invitation.pool.member_org_ids()),
        "invitation",
        f"{invitation.organisation.name} {verb} the pool “{invitation.pool.name}”.",
        NoticeSubject.POOL,
        invitation.pool_id,
        skip=actor.id,
    )
    return invitation


def leave_pool(actor: User, pool: Pool, org_id: int) -> bool:
    """A member organisation leaves; returns True when the pool, left empty, was deleted."""
    get_member_pool(actor, pool.id)
    if org_id not in user_pool_orgs(actor, pool):
        raise Forbidden("You can only take your own organisation out of a pool.")
    member = next(m for m in pool.members if m.organisation_id == org_id)
    if member.role == PoolRole.OWNER and len(pool.members) > 1:
        raise ValidationError("Hand ownership to another member before the owner leaves.")
    if len(pool.members) == 1:
        db.session.delete(pool)
        db.session.flush()
        return True
    pool.members.remove(member)
    db.session.flush()
    return False


def hand_over(actor: User, pool: Pool, new_owner_org_id: int) -> Pool:
    get_member_pool(actor, pool.id)
    if not is_pool_owner(actor, pool):
        raise Forbidden("Only the pool's owner can hand ownership over.")
    target = next((m for m in pool.members if m.organisation_id == new_owner_org_id), None)
    if target is None:
        raise ValidationError({"organisation": "Ownership can only go to a member organisation."})
    for member in pool.members:
        member.role = PoolRole.OWNER if member is target else PoolRole.MEMBER
    db.session.flush()
    notify_users(
        org_user_ids([new_owner_org_id]),
        "invitation",
        f"{target.organisation.name} now owns the pool “{pool.name}”.",
        NoticeSubject.POOL,
        pool.id,
        skip=actor.id,
    )
    return pool
