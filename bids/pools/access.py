"""Who may see a pool: members of its member organisations (and nobody else, admins included).

Non-members get `NotFound`, never `Forbidden`, so a pool's existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bids.access import real_user
from bids.database import db
from bids.errors import NotFound
from bids.models import OrgKind, User
from bids.pools.models import Pool, PoolMember, PoolRole


def user_pool_orgs(user: Any, pool: Pool) -> set[int]:
    """The user's organisations that are members of `pool`."""
    user = real_user(user)
    if user is None:
        return set()
    return user.organisation_ids() & pool.member_org_ids()


def is_pool_member(user: Any, pool: Pool) -> bool:
    return bool(user_pool_orgs(user, pool))


def is_pool_owner(user: Any, pool: Pool) -> bool:
    owner = pool.owner
    return owner is not None and owner.id in user_pool_orgs(user, pool)


def get_member_pool(user: Any, pool_id: int) -> Pool:
    pool = db.session.get(Pool, pool_id)
    if pool is None or not is_pool_member(user, pool):
        raise NotFound("No such pool.")
    return pool


def acting_org_id(user: User, pool: Pool) -> int:
    """The member organisation a user acts for in a pool (their first, by id)."""
    orgs = user_pool_orgs(user, pool)
    if not orgs:
        raise NotFound("No such pool.")
    return min(orgs)


def pools_of(user: Any) -> list[Pool]:
    user = real_user(user)
    if user is None or not user.organisation_ids():
        return []
    return list(
        db.session.scalars(
            # A subquery, not DISTINCT: PostgreSQL cannot compare the JSON columns DISTINCT would.
            select(Pool)
            .where(
                Pool.id.in_(
                    select(PoolMember.pool_id).where(
                        PoolMember.organisation_id.in_(user.organisation_ids())
                    )
                )
            )
            .order_by(Pool.name)
        )
    )


def funder_orgs_of(user: Any) -> list:
    user = real_user(user)
    if user is None:
        return []
    return sorted(
        (m.organisation for m in user.memberships if m.organisation.kind == OrgKind.FUNDER),
        key=lambda o: o.id,
    )


__all__ = [
    "PoolRole",
    "acting_org_id",
    "funder_orgs_of",
    "get_member_pool",
    "is_pool_member",
    "is_pool_owner",
    "pools_of",
    "user_pool_orgs",
]
