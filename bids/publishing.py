"""Publishing, revising and deciding bids.

Services validate, change the session and flush; the caller (a view, the API
or the importer) owns the transaction: it commits, or rolls back when one raises
(the policy in `bids.errors`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from bids.access import can_edit, get_visible_bid, get_visible_bid_by_identifier, publicly_visible
from bids.database import db, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_bid_fields
from bids.models import (
    Bid,
    BidLink,
    BidStatus,
    LinkKind,
    Organisation,
    OrgKind,
    Revision,
    User,
    Visibility,
    from_minor,
    to_minor,
)
from bids.organisations import find_or_create_organisation
from bids.revisions import bid_snapshot

GENERATED_PREFIX = "360G-openbids-"

# Which status may follow which; creating a bid may start in any status
# (recording a bid that was decided years ago is normal).
TRANSITIONS: dict[str, set[str]] = {
    BidStatus.DRAFT: {BidStatus.SUBMITTED, BidStatus.WITHDRAWN},
    BidStatus.SUBMITTED: {BidStatus.AWARDED, BidStatus.DECLINED, BidStatus.WITHDRAWN},
    BidStatus.AWARDED: {BidStatus.WITHDRAWN},
    BidStatus.DECLINED: set(),
    BidStatus.WITHDRAWN: {BidStatus.DRAFT, BidStatus.SUBMITTED},
}
DECIDED = {BidStatus.AWARDED, BidStatus.DECLINED}


def check_transition(current: str, new: str) -> None:
    if current != new and new not in TRANSITIONS[BidStatus(current)]:
        allowed = ", ".join(sorted(TRANSITIONS[BidStatus(current)])) or "nothing else"
        raise ValidationError(
            {"status": f"A bid that is {current} cannot become {new} (it can become: {allowed})."}
        )


def _identifier_taken(identifier: str, exclude_id: int | None = None) -> bool:
    query = select(Bid.id).where(Bid.identifier == identifier)
    if exclude_id is not None:
        query = query.where(Bid.id != exclude_id)
    return db.session.scalar(query) is not None


def _apply_fields(bid: Bid, fields: Mapping[str, Any]) -> None:
    for key in (
        "title",
        "summary",
        "body",
        "programme",
        "currency",
        "duration_months",
        "submitted_on",
        "decided_on",
        "themes",
        "locations",
        "licence",
    ):
        if key in fields:
            setattr(bid, key, fields[key])
    if "url" in fields:
        bid.source_url = fields["url"]
    if "amount_requested" in fields:
        bid.amount_requested_minor = to_minor(fields["amount_requested"])
    if "amount_awarded" in fields:
        bid.amount_awarded_minor = to_minor(fields["amount_awarded"])
    if "funder" in fields:
        party = fields["funder"]
        bid.funder = (
            find_or_create_organisation(party["name"], party["identifier"], kind=OrgKind.FUNDER)
            if party
            else None
        )


def create_bid(
    actor: User | None,
    organisation: Organisation,
    data: Mapping[str, Any],
    *,
    check_membership: bool = True,
) -> Bid:
    """Create a bid for `organisation`. `actor` must be a member unless importing."""
    if check_membership and (actor is None or organisation.id not in actor.organisation_ids()):
        raise Forbidden("Only members of an organisation can publish bids for it.")
    fields = clean_bid_fields(data)
    identifier = fields.get("identifier")
    if identifier:
        if identifier.startswith(GENERATED_PREFIX):
            raise ValidationError(
                {
                    "identifier": f"Identifiers starting {GENERATED_PREFIX} are assigned by "
                    f"Open Bids."
                }
            )
        if _identifier_taken(identifier):
            raise ValidationError({"identifier": "Another bid already has this identifier."})
    bid = Bid(
        identifier=identifier or f"pending-{uuid.uuid4().hex}",
        organisation=organisation,
        status=fields["status"],
        visibility=Visibility.DRAFT,
        created_by=actor,
    )
    _apply_fields(bid, fields)
    db.session.add(bid)
    db.session.flush()
    if not identifier:
        bid.identifier = f"{GENERATED_PREFIX}{bid.id}"
    if fields["visibility"] == Visibility.PUBLISHED:
        publish_bid(actor, bid, check_membership=check_membership)
    return bid


def update_bid(
    actor: User | None,
    bid: Bid,
    data: Mapping[str, Any],
    *,
    note: str = "",
    check_membership: bool = True,
) -> Bid:
    """Change any of the fields given; a published bid gets a new revision."""
    if check_membership and not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can change it.")
    fields = clean_bid_fields(data, partial=True)
    if "title" in fields and not fields["title"]:
        raise ValidationError({"title": "Title is required."})
    identifier = fields.pop("identifier", None)
    if identifier and identifier != bid.identifier:
        if identifier.startswith(GENERATED_PREFIX):
            # Another bid will be given this identifier when it is created.
            raise ValidationError(
                {
                    "identifier": f"Identifiers starting {GENERATED_PREFIX} are assigned by "
                    f"Open Bids."
                }
            )
        if _identifier_taken(identifier, exclude_id=bid.id):
            raise ValidationError({"identifier": "Another bid already has this identifier."})
        bid.identifier = identifier
    if "status" in fields:
        check_transition(bid.status, fields["status"])
        bid.status = fields["status"]
    summary = fields.get("summary", bid.summary)
    body = fields.get("body", bid.body)
    if not (summary or body):
        raise ValidationError({"body": "Write a summary or a body: a bid needs some text."})
    _apply_fields(bid, fields)
    if bid.decided_on and bid.submitted_on and bid.decided_on < bid.submitted_on:
        raise ValidationError(
            {"decided_on": "The decision date cannot be before the submission date."}
        )
    visibility = fields.get("visibility")
    if visibility == Visibility.PUBLISHED and not bid.is_published:
        publish_bid(actor, bid, note=note, check_membership=check_membership)
    elif visibility == Visibility.DRAFT and bid.is_published:
        raise ValidationError(
            {"visibility": "A published bid stays public; withdraw it instead of unpublishing."}
        )
    elif bid.is_published:
        bid.updated_at = utcnow()
        db.session.flush()
        add_revision(actor, bid, note=note)
    else:
        db.session.flush()
    return bid


def publish_bid(
    actor: User | None, bid: Bid, *, note: str = "", check_membership: bool = True
) -> Bid:
    if check_membership and not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can publish it.")
    if bid.is_published:
        return bid
    bid.visibility = Visibility.PUBLISHED
    bid.published_at = utcnow()
    db.session.flush()
    add_revision(actor, bid, note=note or "Published")
    return bid


def record_outcome(actor: User | None, bid: Bid, data: Mapping[str, Any], *, note: str = "") -> Bid:
    """Status plus, for a decision, the amount awarded and the decision date."""
    if not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can record its outcome.")
    fields = clean_bid_fields(data, partial=True)
    status = fields.get("status")
    if status is None:
        raise ValidationError({"status": "Choose the outcome."})
    changes: dict[str, Any] = {"status": status}
    if status in DECIDED:
        changes["decided_on"] = fields.get("decided_on") or utcnow().date()
    if status == BidStatus.AWARDED:
        changes["amount_awarded"] = fields.get("amount_awarded", bid.amount_awarded)
    elif "amount_awarded" in fields and fields["amount_awarded"]:
        raise ValidationError({"amount_awarded": "Only an awarded bid has an amount awarded."})
    return update_bid(actor, bid, changes, note=note or f"Outcome: {status}")


def add_revision(actor: User | None, bid: Bid, *, note: str = "") -> Revision:
    last = db.session.scalar(select(func.max(Revision.number)).where(Revision.bid_id == bid.id))
    revision = Revision(
        bid=bid,
        number=(last or 0) + 1,
        author_id=actor.id if actor else None,
        note=note[:300],
        snapshot=bid_snapshot(bid),
    )
    db.session.add(revision)
    db.session.flush()
    return revision


def link_bids(actor: User | None, bid: Bid, other: Bid, kind: str) -> BidLink:
    """Record lineage: `bid` is a resubmission of `other`, or was also sent to its funder."""
    if not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can record its lineage.")
    if kind not in {k.value for k in LinkKind}:
        raise ValidationError({"kind": "Lineage is either resubmission_of or also_sent_to."})
    if other.id == bid.id:
        raise ValidationError({"kind": "A bid cannot be linked to itself."})
    existing = db.session.scalar(
        select(BidLink).where(
            BidLink.from_bid_id == bid.id, BidLink.to_bid_id == other.id, BidLink.kind == kind
        )
    )
    if existing:
        return existing
    link = BidLink(from_bid=bid, to_bid=other, kind=kind)
    db.session.add(link)
    db.session.flush()
    return link


def unlink_bids(actor: User | None, link: BidLink) -> None:
    if not can_edit(actor, link.from_bid):
        raise Forbidden("Only members of the bid's organisation can change its lineage.")
    db.session.delete(link)
    db.session.flush()


def hide_bid(admin: User, bid: Bid, reason: str) -> Bid:
    """Moderation: removes the bid from every public view and the API."""
    if not admin.is_admin:
        raise Forbidden("Only administrators can hide bids.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason: the organisation will read it."})
    bid.hidden_at = utcnow()
    bid.hidden_reason = reason[:2000]
    bid.hidden_by_id = admin.id
    db.session.flush()
    return bid


def unhide_bid(admin: User, bid: Bid) -> Bid:
    if not admin.is_admin:
        raise Forbidden("Only administrators can restore bids.")
    bid.hidden_at = None
    bid.hidden_reason = None
    bid.hidden_by_id = None
    db.session.flush()
    return bid


# --- Reading: what the home page and the public list show --------------------------------


def published_bids_query() -> Select[Bid]:
    """Public bids, newest first, with what a bid card shows loaded up front."""
    return (
        select(Bid)
        .where(publicly_visible())
        .options(selectinload(Bid.organisation), selectinload(Bid.funder))
        .order_by(Bid.published_at.desc().nulls_last(), Bid.id.desc())
    )


def latest_published_bids(limit: int = 10) -> list[Bid]:
    return list(db.session.scalars(published_bids_query().limit(limit)))


def featured_collective_bid() -> Bid | None:
    """The newest public bid of an organisation of kind "collective"."""
    query = (
        published_bids_query().join(Bid.organisation).where(Organisation.kind == OrgKind.COLLECTIVE)
    )
    return db.session.scalars(query.limit(1)).first()


@dataclass(frozen=True)
class HomeCounts:
    bids: int
    organisations: int
    funders: int
    requested_gbp: Decimal


def home_counts() -> HomeCounts:
    """Public bids, the organisations that published them, the funders they went to,
    and the total requested in GBP (other currencies are not converted)."""
    row = db.session.execute(
        select(
            func.count(Bid.id),
            func.count(func.distinct(Bid.organisation_id)),
            func.count(func.distinct(Bid.funder_id)),
        ).where(publicly_visible())
    ).one()
    requested = db.session.scalar(
        select(func.coalesce(func.sum(Bid.amount_requested_minor), 0)).where(
            publicly_visible(), Bid.currency == "GBP"
        )
    )
    return HomeCounts(row[0], row[1], row[2], from_minor(int(requested or 0)))


_BID_PATH_RE = re.compile(r"/bids/(\d+)/?$")
_BID_IDENTIFIER_PATH_RE = re.compile(r"/bids/by-identifier/(.+?)/?$")


def resolve_bid_reference(user: User | None, reference: str) -> Bid:
    """The bid a user means by an identifier or an Open Bids address (URL or path).

    Only bids the user may read are found; anything else is a validation error
    that does not reveal whether a hidden bid exists.
    """
    text = (reference or "").strip()
    if not text:
        raise ValidationError({"target": "Give the other bid's identifier or address."})
    path = urlsplit(text).path if re.match(r"^(https?://|/)", text) else None
    try:
        if path is not None:
            if match := _BID_PATH_RE.search(path):
                return get_visible_bid(user, int(match[1]))
            if match := _BID_IDENTIFIER_PATH_RE.search(path):
                return get_visible_bid_by_identifier(user, unquote(match[1]))
            raise NotFound("No such bid.")
        return get_visible_bid_by_identifier(user, text)
    except NotFound:
        raise ValidationError({"target": "No bid found with that identifier or address."}) from None
