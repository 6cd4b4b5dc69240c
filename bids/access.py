"""Who may see and change what. Every view and API route goes through here.

Outsiders never learn that a draft or a hidden bid exists: they get `NotFound`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, or_, select

from bids.database import db
from bids.errors import Forbidden, NotFound
from bids.models import Bid, Organisation, Role, User, Visibility


def real_user(user: Any) -> User | None:
    """Flask-Login's anonymous user and None both mean 'nobody signed in'."""
    return user if isinstance(user, User) else None


def publicly_visible():
    """SQL condition for the bids anyone may read: published and not hidden (`Bid.is_public`)."""
    return and_(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))


def visibility_clause(user: Any):
    """SQL condition for the bids `user` may read."""
    public = publicly_visible()
    user = real_user(user)
    if user is None:
        return public
    if user.is_admin:
        return Bid.id.is_not(None)
    org_ids = user.organisation_ids()
    if not org_ids:
        return public
    return or_(public, Bid.organisation_id.in_(org_ids))


def visible_bids(user: Any) -> Select[Bid]:
    return select(Bid).where(visibility_clause(user))


def can_view(user: Any, bid: Bid) -> bool:
    if bid.is_public:
        return True
    user = real_user(user)
    if user is None:
        return False
    return user.is_admin or bid.organisation_id in user.organisation_ids()


def can_edit(user: Any, bid: Bid) -> bool:
    user = real_user(user)
    return user is not None and bid.organisation_id in user.organisation_ids()


def is_member(user: Any, organisation: Organisation | int) -> bool:
    user = real_user(user)
    org_id = organisation if isinstance(organisation, int) else organisation.id
    return user is not None and org_id in user.organisation_ids()


def is_owner(user: Any, organisation: Organisation | int) -> bool:
    user = real_user(user)
    org_id = organisation if isinstance(organisation, int) else organisation.id
    return user is not None and user.role_in(org_id) == Role.OWNER


def get_visible_bid(user: Any, bid_id: int) -> Bid:
    bid = db.session.get(Bid, bid_id)
    if bid is None or not can_view(user, bid):
        raise NotFound("No such bid.")
    return bid


def get_visible_bid_by_identifier(user: Any, identifier: str) -> Bid:
    bid = db.session.scalar(select(Bid).where(Bid.identifier == identifier))
    if bid is None or not can_view(user, bid):
        raise NotFound("No such bid.")
    return bid


def get_editable_bid(user: Any, bid_id: int) -> Bid:
    bid = get_visible_bid(user, bid_id)
    if not can_edit(user, bid):
        raise Forbidden("Only members of the bid's organisation can change it.")
    return bid


def require_admin(user: Any) -> User:
    user = real_user(user)
    if user is None or not user.is_admin:
        raise NotFound("No such page.")
    return user
