"""Pools, invitations, programmes, pledges, introductions and the inbox.

Services check permissions (non-members get `NotFound`), change the session and
flush; the view, API or command that calls them commits, or rolls back when one raises
(the policy in `bids.errors`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bids.access import can_edit, can_view, is_member, real_user
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_amount, clean_currency, clean_date, clean_tags
from bids.models import Bid, Membership, Organisation, OrgKind, User, from_minor, to_minor
from bids.pools.access import acting_org_id, get_member_pool, is_pool_owner, user_pool_orgs
from bids.pools.models import (
    Introduction,
    NoticeSubject,
    Notification,
    OverlapCluster,
    OverlapClusterMember,
    Pledge,
    PledgeKind,
    Pool,
    PoolInvitation,
    PoolMember,
    PoolRole,
    Programme,
)

# --- notifications -----------------------------------------------------------------------


def notify_users(
    user_ids: Iterable[int],
    kind: str,
    text: str,
    subject: NoticeSubject = NoticeSubject.NONE,
    subject_id: int | None = None,
    *,
    skip: int | None = None,
) -> None:
    """Put a notice in each user's inbox; `subject` and `subject_id` say what it is about."""
    for user_id in sorted(set(user_ids) - {skip}):
        db.session.add(
            Notification(
                user_id=user_id, kind=kind, text=text[:500], subject=subject, subject_id=subject_id
            )
        )


def org_user_ids(org_ids: Iterable[int]) -> set[int]:
    org_ids = list(org_ids)
    if not org_ids:
        return set()
    return set(
        db.session.scalars(
            select(Membership.user_id).where(Membership.organisation_id.in_(org_ids))
        )
    )


def unread_count(user: Any) -> int:
    user = real_user(user)
    if user is None:
        return 0
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def inbox(user: User, limit: int = 100) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(user: User, notification_ids: Iterable[int] | None = None) -> int:
    query = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_ids is not None:
        query = query.where(Notification.id.in_(list(notification_ids)))
    result = db.session.execute(query.values(read_at=utcnow()))
    return result.rowcount  # type: ignore[attr-defined]  # an UPDATE: a CursorResult


# --- programmes --------------------------------------------------------------------------


def _require_funder_member(actor: Any, org: Organisation) -> User:
    if org.kind != OrgKind.FUNDER:
        raise ValidationError({"funder": "Only funder organisations can do this."})
    if not is_member(actor, org):
        raise Forbidden("Only members of the funder can do this.")
    return actor


def _money(data: Mapping[str, Any], key: str, errors: dict[str, str]) -> int | None:
    try:
        return to_minor(clean_amount(data.get(key)))
    except ValidationError as exc:
        errors[key] = str(exc)
        return None


def create_programme(actor: User, funder: Organisation, data: Mapping[str, Any]) -> Programme:
    _require_funder_member(actor, funder)
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = "Name the programme."
    elif db.session.scalar(
        select(Programme.id).where(
            Programme.funder_id == funder.id, func.lower(Programme.name) == name.lower()
        )
    ):
        errors["name"] = "This funder already has a programme of that name."
    values: dict[str, Any] = {}
    for key in ("opens_on", "closes_on"):
        try:
            values[key] = clean_date(data.get(key))
        except ValidationError as exc:
            errors[key] = str(exc)
    try:
        values["currency"] = clean_currency(data.get("currency"))
    except ValidationError as exc:
        errors["currency"] = str(exc)
    low = _money(data, "typical_award_min", errors)
    high = _money(data, "typical_award_max", errors)
    budget = _money(data, "budget", errors)
    if low is not None and high is not None and low > high:
        errors["typical_award_max"] = "The top of the typical range is below its bottom."
    if (
        values.get("opens_on")
        and values.get("closes_on")
        and values["closes_on"] < values["opens_on"]
    ):
        errors["closes_on"] = "The programme cannot close before it opens."
    try:
        themes, nations = clean_tags(data.get("themes")), clean_tags(data.get("nations"))
    except ValidationError as exc:
        errors["themes"] = str(exc)
        themes, nations = [], []
    if errors:
        raise ValidationError(errors)
    programme = Programme(
        funder=funder,
        name=name[:200],
        description=(data.get("description") or "").strip()[:5000],
        themes=themes,
        nations=nations,
        typical_award_min_minor=low,
        typical_award_max_minor=high,
        budget_minor=budget,
        **values,
    )
    db.session.add(programme)
    db.session.flush()
    return programme


def programmes(funder_id: int | None = None) -> list[Programme]:
    query = select(Programme).order_by(Programme.name)
    if funder_id is not None:
        query = query.where(Programme.funder_id == funder_id)
    return list(db.session.scalars(query))


# --- pools, invitations, membership ----------------------------------------------------------


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
    _require_funder_member(actor, funder)
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


# --- pledges -------------------------------------------------------------------------------


@dataclass
class CoFunding:
    """Active pledges on one bid or cluster within a pool; amounts per currency, never added
    across."""

    funders: int = 0
    interested: int = 0
    pledged_minor: dict[str, int] = field(default_factory=dict)
    requested_minor: dict[str, int] = field(default_factory=dict)

    @property
    def mixed_currencies(self) -> bool:
        return len(set(self.pledged_minor) | set(self.requested_minor)) > 1

    def summary(self) -> str:
        if not self.funders:
            return "No pledges yet."
        who = f"{self.funders} funder{'s' if self.funders != 1 else ''}"
        if not self.pledged_minor:
            return f"{who} interested, no amount pledged yet."
        if self.mixed_currencies:
            parts = ", ".join(
                f"{c} {from_minor(v):,.0f}" for c, v in sorted(self.pledged_minor.items())
            )
            asked = ", ".join(
                f"{c} {from_minor(v):,.0f}" for c, v in sorted(self.requested_minor.items())
            )
            return (
                f"{who}: {parts} pledged against {asked or 'no stated amount'} requested "
                "(different currencies are not added together)."
            )
        currency, pledged = next(iter(self.pledged_minor.items()))
        requested = self.requested_minor.get(currency)
        if requested:
            return (
                f"{who}, {currency} {from_minor(pledged):,.0f} of "
                f"{from_minor(requested):,.0f} pledged"
            )
        return f"{who}, {currency} {from_minor(pledged):,.0f} pledged"


def _target_currencies(bid: Bid | None, cluster: OverlapCluster | None) -> set[str]:
    if bid is not None:
        return {bid.currency}
    return set(cluster.requested_minor) if cluster is not None else set()


def _pledge_target(data: Mapping[str, Any]) -> tuple[Bid | None, OverlapCluster | None]:
    """The public bid or the overlap cluster a pledge is for (404 when there is no such one)."""
    bid = cluster = None
    if data.get("bid_id"):
        bid = db.session.get(Bid, int(data["bid_id"]))
        if bid is None or not bid.is_public:
            raise NotFound("No such bid.")
    elif data.get("cluster_id"):
        cluster = db.session.get(OverlapCluster, int(data["cluster_id"]))
        if cluster is None:
            raise NotFound("No such overlap cluster.")
    else:
        raise ValidationError({"bid_id": "Pledge to a bid or to an overlap cluster."})
    return bid, cluster


def make_pledge(actor: User, pool: Pool, data: Mapping[str, Any]) -> Pledge:
    """Interest (no amount) or an amount, on a bid or a cluster, for the actor's member
    organisation."""
    get_member_pool(actor, pool.id)
    bid, cluster = _pledge_target(data)
    errors: dict[str, str] = {}
    amount_minor = _money(data, "amount", errors)
    currency = None
    if amount_minor is not None:
        allowed = _target_currencies(bid, cluster) or {"GBP"}
        try:
            currency = clean_currency(
                data.get("currency") or (next(iter(allowed)) if len(allowed) == 1 else None)
            )
        except ValidationError as exc:
            errors["currency"] = str(exc)
        if currency and currency not in allowed:
            errors["currency"] = (
                f"This asks for {', '.join(sorted(allowed))}; pledge in that currency. "
                f"Open Bids never adds {currency} to {', '.join(sorted(allowed))}."
            )
        if amount_minor == 0:
            errors["amount"] = "Pledge more than zero, or leave the amount empty to mark interest."
    if errors:
        raise ValidationError(errors)
    org_id = int(data.get("organisation_id") or acting_org_id(actor, pool))
    if org_id not in user_pool_orgs(actor, pool):
        raise Forbidden("You can only pledge for your own member organisation.")
    pledge = Pledge(
        pool=pool,
        organisation_id=org_id,
        bid=bid,
        cluster_id=cluster.id if cluster else None,
        kind=PledgeKind.AMOUNT if amount_minor else PledgeKind.INTEREST,
        amount_minor=amount_minor,
        currency=currency,
        note=(data.get("note") or "").strip()[:2000],
        created_by_id=actor.id,
    )
    db.session.add(pledge)
    db.session.flush()
    org_name = db.session.get(Organisation, org_id).name  # type: ignore[union-attr]  # set by the checks above
    what = f"“{bid.title}”" if bid else f"overlap cluster {cluster.id}"  # type: ignore[union-attr]  # set by the checks above
    how = f"pledged {currency} {pledge.amount:,.0f} to" if amount_minor else "marked interest in"
    text = f"{org_name} {how} {what} in the pool “{pool.name}”."
    notify_users(
        org_user_ids(pool.member_org_ids()),
        "pledge",
        text,
        NoticeSubject.POOL,
        pool.id,
        skip=actor.id,
    )
    if pool.share_pledges_with_applicants:
        # A pledge to a cluster concerns every applicant in it: each hears about its own bid.
        targets = [bid] if bid is not None else [m.bid for m in cluster.members if m.bid.is_public]  # type: ignore[union-attr]  # set by the checks above
        for target in targets:
            notify_users(
                org_user_ids([target.organisation_id]),
                "pledge",
                text,
                NoticeSubject.BID_PLEDGES,
                target.id,
                skip=actor.id,
            )
    return pledge


def withdraw_pledge(actor: User, pool: Pool, pledge_id: int) -> Pledge:
    get_member_pool(actor, pool.id)
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or pledge.pool_id != pool.id:
        raise NotFound("No such pledge.")
    if pledge.organisation_id not in user_pool_orgs(actor, pool):
        raise Forbidden("Only the organisation that pledged can withdraw it.")
    pledge.withdrawn_at = pledge.withdrawn_at or utcnow()
    db.session.flush()
    return pledge


def active_pledges(
    pool: Pool, *, bid_ids: Iterable[int] = (), cluster_ids: Iterable[int] = ()
) -> list[Pledge]:
    bid_ids, cluster_ids = list(bid_ids), list(cluster_ids)
    if not bid_ids and not cluster_ids:
        return []
    return list(
        db.session.scalars(
            select(Pledge)
            .where(
                Pledge.pool_id == pool.id,
                Pledge.withdrawn_at.is_(None),
                or_(Pledge.bid_id.in_(bid_ids), Pledge.cluster_id.in_(cluster_ids)),
            )
            .order_by(Pledge.created_at, Pledge.id)
        )
    )


def co_funding(pledges: Iterable[Pledge], requested_minor: Mapping[str, int]) -> CoFunding:
    status = CoFunding(requested_minor=dict(requested_minor))
    funders: set[int] = set()
    interested: set[int] = set()
    pledged: dict[str, int] = defaultdict(int)
    for pledge in pledges:
        if not pledge.is_active:
            continue
        funders.add(pledge.organisation_id)
        if pledge.amount_minor:
            pledged[pledge.currency] += pledge.amount_minor  # type: ignore[index]  # set by the checks above
        else:
            interested.add(pledge.organisation_id)
    status.funders, status.interested = len(funders), len(interested)
    status.pledged_minor = dict(sorted(pledged.items()))
    return status


def bid_co_funding(pool: Pool, bid: Bid) -> CoFunding:
    requested = {bid.currency: bid.amount_requested_minor} if bid.amount_requested_minor else {}
    return co_funding(active_pledges(pool, bid_ids=[bid.id]), requested)


def shared_pledges_for_bid(user: Any, bid: Bid) -> list[Pledge]:
    """What the applicant sees: active pledges from pools that share them, for its own bid only."""
    if not can_edit(user, bid):
        raise NotFound("No such bid.")
    in_clusters = select(OverlapClusterMember.cluster_id).where(
        OverlapClusterMember.bid_id == bid.id
    )
    return list(
        db.session.scalars(
            select(Pledge)
            .join(Pool)
            .where(
                or_(
                    Pledge.bid_id == bid.id,
                    and_(Pledge.bid_id.is_(None), Pledge.cluster_id.in_(in_clusters)),
                ),
                Pledge.withdrawn_at.is_(None),
                Pool.share_pledges_with_applicants.is_(True),
            )
            .order_by(Pledge.created_at, Pledge.id)
        )
    )


# --- introductions ---------------------------------------------------------------------------


def propose_introduction(
    actor: User, first_bid: Bid, second_bid: Bid, message: str = "", cluster_id: int | None = None
) -> Introduction:
    """A writer of either bid, or a funder, proposes that the two organisations meet.

    The proposer's own side (if any) accepts at once, sharing the proposer as its contact.
    """
    for bid in (first_bid, second_bid):
        if not can_view(actor, bid) or not bid.is_public:
            raise NotFound("No such bid.")
    if first_bid.organisation_id == second_bid.organisation_id:
        raise ValidationError("Both bids come from the same organisation.")
    mine = actor.organisation_ids()
    is_funder = any(m.organisation.kind == OrgKind.FUNDER for m in actor.memberships)
    if second_bid.organisation_id in mine and first_bid.organisation_id not in mine:
        first_bid, second_bid = second_bid, first_bid
    if first_bid.organisation_id not in mine and not is_funder:
        raise Forbidden("Writers can propose introductions for their own organisation's bids.")
    pair = {first_bid.organisation_id, second_bid.organisation_id}
    for existing in db.session.scalars(
        select(Introduction).where(
            Introduction.declined_at.is_(None),
            Introduction.first_org_id.in_(pair),
            Introduction.second_org_id.in_(pair),
        )
    ):
        raise ValidationError(
            f"An introduction between these organisations already exists (it is {existing.status})."
        )
    intro = Introduction(
        proposed_by_id=actor.id,
        first_org_id=first_bid.organisation_id,
        second_org_id=second_bid.organisation_id,
        first_bid=first_bid,
        second_bid=second_bid,
        cluster_id=cluster_id,
        message=(message or "").strip()[:2000],
    )
    if first_bid.organisation_id in mine:
        intro.first_accepted_at, intro.first_contact_id = utcnow(), actor.id
    db.session.add(intro)
    db.session.flush()
    notify_users(
        org_user_ids(pair),
        "introduction",
        f"{actor.display_name} proposed introducing {first_bid.organisation.name} and "
        f"{second_bid.organisation.name}.",
        NoticeSubject.INTRODUCTION,
        intro.id,
        skip=actor.id,
    )
    return intro


def get_introduction_for(user: Any, intro_id: int) -> Introduction:
    intro = db.session.get(Introduction, intro_id)
    user = real_user(user)
    if (
        intro is None
        or user is None
        or not (
            user.id == intro.proposed_by_id
            or {intro.first_org_id, intro.second_org_id} & user.organisation_ids()
        )
    ):
        raise NotFound("No such introduction.")
    return intro


def respond_to_introduction(actor: User, intro_id: int, accept: bool) -> Introduction:
    intro = get_introduction_for(actor, intro_id)
    mine = actor.organisation_ids()
    sides = [
        s
        for s in ("first", "second")
        if getattr(intro, f"{s}_org_id") in mine and getattr(intro, f"{s}_accepted_at") is None
    ]
    if not sides or intro.declined_at:
        raise ValidationError("There is nothing for you to answer in this introduction.")
    if accept:
        for side in sides:
            setattr(intro, f"{side}_accepted_at", utcnow())
            setattr(intro, f"{side}_contact_id", actor.id)
    else:
        intro.declined_at = utcnow()
    db.session.flush()
    people = org_user_ids([intro.first_org_id, intro.second_org_id]) | {intro.proposed_by_id}
    text = (
        f"{intro.first_org.name} and {intro.second_org.name} both accepted the introduction: "
        "contact details are now shared."
        if intro.is_mutual
        else f"The introduction between {intro.first_org.name} and {intro.second_org.name} was "
        f"{'accepted by one side' if accept else 'declined'}."
    )
    notify_users(people, "introduction", text, NoticeSubject.INTRODUCTION, intro.id, skip=actor.id)  # type: ignore[arg-type]  # set by the checks above
    return intro


def contacts(intro: Introduction) -> list[tuple[Organisation, User | None]]:
    """Contact details, shown only once both sides accepted."""
    if not intro.is_mutual:
        return []
    return [(intro.first_org, intro.first_contact), (intro.second_org, intro.second_contact)]


def introductions_for(user: User) -> list[Introduction]:
    org_ids = list(user.organisation_ids())
    return list(
        db.session.scalars(
            select(Introduction)
            .where(
                or_(
                    Introduction.proposed_by_id == user.id,
                    Introduction.first_org_id.in_(org_ids),
                    Introduction.second_org_id.in_(org_ids),
                )
            )
            .order_by(Introduction.created_at.desc())
        )
    )
