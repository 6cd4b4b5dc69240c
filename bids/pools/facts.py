"""What overlap clusters may show and read of a bid: a few facts and a short text.

Plain queries of the domain; `search_index.clusters` builds clusters from them and the
pool's opportunities re-check visibility with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bids.access import publicly_visible
from bids.database import db
from bids.models import Bid, BidStatus


@dataclass(frozen=True)
class BidFacts:
    id: int
    organisation_id: int
    funder_id: int | None = None
    currency: str = "GBP"
    amount_minor: int | None = None
    status: str = "submitted"
    themes: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()


def clusterable_facts(
    bid_ids: Iterable[int] | None = None, session: Session | None = None
) -> dict[int, BidFacts]:
    """Published, visible, not withdrawn bids: the only ones clusters may show."""
    query = select(
        Bid.id,
        Bid.organisation_id,
        Bid.funder_id,
        Bid.currency,
        Bid.amount_requested_minor,
        Bid.status,
        Bid.themes,
        Bid.locations,
    ).where(publicly_visible(), Bid.status != BidStatus.WITHDRAWN)
    if bid_ids is not None:
        query = query.where(Bid.id.in_(list(bid_ids)))
    return {
        row[0]: BidFacts(
            row[0],
            row[1],
            row[2],
            row[3] or "GBP",
            row[4],
            row[5],
            tuple(row[6] or ()),
            tuple(row[7] or ()),
        )
        for row in (session or db.session).execute(query)
    }


def bid_texts(bid_ids: list[int], session: Session | None = None) -> dict[int, str]:
    """Title, summary and the start of the body of each bid, for a cluster's key terms."""
    out: dict[int, str] = {}
    for start in range(0, len(bid_ids), 500):
        chunk = bid_ids[start : start + 500]
        for bid_id, title, summary, body in (session or db.session).execute(
            select(Bid.id, Bid.title, Bid.summary, Bid.body).where(Bid.id.in_(chunk))
        ):
            out[bid_id] = "\n".join(p for p in (title, summary, (body or "")[:4000]) if p)
    return out
