"""Pledges in a pool: a funder's intent to fund a bid or cluster, and what they add up to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select

from bids.access import can_edit
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_currency
from bids.models import Bid, Organisation, User, from_minor
from bids.pools.access import acting_org_id, get_member_pool, user_pool_orgs
from bids.pools.models import (
    NoticeSubject,
    OverlapCluster,
    OverlapClusterMember,
    Pledge,
    PledgeKind,
    Pool,
)
from bids.pools.notices import notify_users, org_user_ids
from bids.pools.programmes import money_field


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
    amount_minor = money_field(data, "amount", errors)
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
