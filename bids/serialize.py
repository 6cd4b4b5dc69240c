"""Bids as JSON-ready dicts: the one shape the API, exports, similarity and pools share.

Plain domain code: links to a bid's or an attachment's page come from the builder the
web layer installs (`portal.links`) and are `None` when none can be built (no web layer,
or no request and no SERVER_NAME, e.g. a CLI job), so such callers still get every
other field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app, has_app_context

from bids.markdown_render import markdown_to_text
from bids.models import Attachment, Bid, Organisation, Revision

# Fields of a list item, in order (exports may use it for their columns).
ITEM_FIELDS = (
    "id",
    "identifier",
    "title",
    "summary",
    "organisation",
    "funder",
    "programme",
    "amount_requested",
    "amount_awarded",
    "currency",
    "status",
    "visibility",
    "submitted_on",
    "url",
)


def money_number(amount: Decimal | None) -> int | float | None:
    """A JSON number, never a string: whole amounts as integers, pence as a two-place float."""
    if amount is None:
        return None
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def iso_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`; naive values are UTC already (see bids.database.utcnow)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


# The app extension holding the link builder: `build(resource, **ids) -> str | None`.
LINKS_EXTENSION = "openbids_links"


def external_url(resource: str, **ids: Any) -> str | None:
    """Absolute URL of a resource's page ("bid", "attachment"), or None when none is built."""
    build = current_app.extensions.get(LINKS_EXTENSION) if has_app_context() else None
    return build(resource, **ids) if build is not None else None


def party(org: Organisation | None) -> dict[str, str | None] | None:
    """An organisation as 360Giving names it: name and org-id identifier."""
    if org is None:
        return None
    return {"name": org.name, "identifier": org.org_identifier}


def bid_url(bid: Bid) -> str | None:
    return external_url("bid", bid_id=bid.id)


def attachment_url(attachment: Attachment) -> str | None:
    return external_url(
        "attachment",
        bid_id=attachment.bid_id,
        attachment_id=attachment.id,
        filename=attachment.filename,
    )


def bid_item(bid: Bid) -> dict[str, Any]:
    """The summary of a bid used in lists."""
    return {
        "id": bid.id,
        "identifier": bid.identifier,
        "title": bid.title,
        "summary": bid.summary,
        "organisation": party(bid.organisation),
        "funder": party(bid.funder),
        "programme": bid.programme,
        "amount_requested": money_number(bid.amount_requested),
        "amount_awarded": money_number(bid.amount_awarded),
        "currency": bid.currency,
        "status": bid.status,
        "visibility": bid.visibility,
        "submitted_on": iso_date(bid.submitted_on),
        "url": bid_url(bid),
    }


def bid_text(bid: Bid) -> str:
    """Plain text of the body and of every attachment with a text layer."""
    parts = [markdown_to_text(bid.body)]
    parts.extend(a.text for a in bid.attachments if a.text)
    return "\n\n".join(p for p in parts if p)


def attachment_item(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "size": attachment.size,
        "pages": attachment.pages,
        "sha256": attachment.sha256,
        "status": attachment.extraction_status,
        "message": attachment.extraction_message,
        "url": attachment_url(attachment),
    }


def revision_item(revision: Revision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "created_at": iso_datetime(revision.created_at),
        "note": revision.note,
    }


def bid_detail(bid: Bid) -> dict[str, Any]:
    """Everything public about one bid: the list item plus text, tags, files and history."""
    data = bid_item(bid)
    data.update(
        {
            "body": bid.body,
            "text": bid_text(bid),
            "themes": list(bid.themes or []),
            "locations": list(bid.locations or []),
            "licence": bid.licence,
            "duration_months": bid.duration_months,
            "decided_on": iso_date(bid.decided_on),
            "source_url": bid.source_url,
            "attachments": [attachment_item(a) for a in bid.attachments],
            "revisions": [revision_item(r) for r in bid.revisions],
            "created_at": iso_datetime(bid.created_at),
            "updated_at": iso_datetime(bid.updated_at),
            "published_at": iso_datetime(bid.published_at),
        }
    )
    return data
