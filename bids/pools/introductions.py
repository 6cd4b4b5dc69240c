"""Introductions a pool proposes between organisations whose bids overlap."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from bids.access import can_view, real_user
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.models import Bid, Organisation, OrgKind, User
from bids.pools.models import (
    Introduction,
    NoticeSubject,
)
from bids.pools.notices import notify_users, org_user_ids


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
