"""Queries behind lists of bids: filters by organisation, status and year; ranked ids to bids.

The web layer reads the filters from a request and pages the query; the SQL lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import defer, joinedload, selectinload

from bids.access import can_view, visible_bids
from bids.database import db
from bids.models import Bid, Organisation


def organisation_ids_named(value: str) -> Select[int]:
    """Ids of the organisations known by this name (any case), org-id or slug."""
    value = value.strip()
    return select(Organisation.id).where(
        or_(
            func.lower(Organisation.name) == value.lower(),
            func.upper(Organisation.org_identifier) == value.upper(),
            Organisation.slug == value.lower(),
        )
    )


def organisations_named(value: str) -> list[Organisation]:
    """The organisations known by this name (any case), org-id or slug."""
    return list(
        db.session.scalars(
            select(Organisation).where(Organisation.id.in_(organisation_ids_named(value)))
        )
    )


def bid_id_with_identifier(identifier: str) -> int | None:
    return db.session.scalar(select(Bid.id).where(Bid.identifier == identifier.strip()))


def in_year(year: int):
    """Year of submitted_on, else of decided_on (never published_at, see `Bid.year`); date
    ranges so indexes and PostgreSQL work."""
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return or_(
        and_(Bid.submitted_on >= start, Bid.submitted_on < end),
        and_(Bid.submitted_on.is_(None), Bid.decided_on >= start, Bid.decided_on < end),
    )


def filtered_bids(
    user: Any,
    *,
    identifier: str | None = None,
    organisation: str | None = None,
    funder: str | None = None,
    status: str | None = None,
    year: int | None = None,
) -> Select[Bid]:
    """The bids `user` may read that match every filter given, newest published first.

    Organisations and funders are named as `organisation_ids_named` reads them; drafts (no
    published_at) come last on every database.
    """
    query = visible_bids(user)
    if identifier:
        query = query.where(Bid.identifier == identifier.strip())
    if organisation:
        query = query.where(Bid.organisation_id.in_(organisation_ids_named(organisation)))
    if funder:
        query = query.where(Bid.funder_id.in_(organisation_ids_named(funder)))
    if status:
        query = query.where(Bid.status == status)
    if year is not None:
        query = query.where(in_year(year))
    return query.options(selectinload(Bid.organisation), selectinload(Bid.funder)).order_by(
        Bid.published_at.is_(None), Bid.published_at.desc(), Bid.id.desc()
    )


def visible_bids_in_order(user: Any, ids: Iterable[int]) -> list[Bid]:
    """Load bids by id keeping the ranking; the database has the last word on visibility.

    A bid changed since an index ranked it is left out unless `user` may still read it.
    """
    ids = list(ids)
    if not ids:
        return []
    # One query (the parties joined, not selected in two more), without the bodies: lists,
    # result pages and exports show the summary (loading 20 bodies doubled the cost).
    found = {
        bid.id: bid
        for bid in db.session.scalars(
            select(Bid)
            .where(Bid.id.in_(ids))
            .options(joinedload(Bid.organisation), joinedload(Bid.funder), defer(Bid.body))
        )
    }
    return [found[i] for i in ids if i in found and can_view(user, found[i])]
