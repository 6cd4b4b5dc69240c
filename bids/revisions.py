"""Revision history: the snapshot a revision keeps, and readable comparisons of any two."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer, selectinload

from bids.database import db
from bids.errors import NotFound
from bids.models import Bid, Revision, from_minor

SNAPSHOT_FIELDS = (
    "identifier",
    "title",
    "summary",
    "body",
    "programme",
    "currency",
    "duration_months",
    "status",
    "visibility",
    "themes",
    "locations",
    "licence",
    "source_url",
)
MONEY_FIELDS = ("amount_requested", "amount_awarded")  # kept as `<field>_minor` columns
DATE_FIELDS = ("submitted_on", "decided_on")
SNAPSHOT_COLUMNS = (*SNAPSHOT_FIELDS, *(f"{key}_minor" for key in MONEY_FIELDS), *DATE_FIELDS)


def revision_snapshot(
    columns: Mapping[str, Any],
    *,
    organisation: str | None,
    funder: str | None,
    attachments: Iterable[str],
) -> dict[str, Any]:
    """A bid as a revision keeps it (plain JSON values), from its `SNAPSHOT_COLUMNS` values,
    its organisation's and funder's names and its attachments' file names."""
    data: dict[str, Any] = {name: columns.get(name) for name in SNAPSHOT_FIELDS}
    data["themes"] = list(columns.get("themes") or [])
    data["locations"] = list(columns.get("locations") or [])
    data["organisation"] = organisation
    data["funder"] = funder
    for key in MONEY_FIELDS:
        amount = from_minor(columns.get(f"{key}_minor"))
        data[key] = str(amount) if amount is not None else None
    for key in DATE_FIELDS:
        day = columns.get(key)
        data[key] = day.isoformat() if isinstance(day, date) else day
    data["attachments"] = list(attachments)
    return data


def bid_snapshot(bid: Bid) -> dict[str, Any]:
    """The snapshot of a loaded bid, for its next revision and for comparison."""
    return revision_snapshot(
        {column: getattr(bid, column) for column in SNAPSHOT_COLUMNS},
        organisation=bid.organisation.name if bid.organisation else None,
        funder=bid.funder.name if bid.funder else None,
        attachments=[a.filename for a in bid.attachments],
    )


FIELD_LABELS = {
    "title": "Title",
    "summary": "Summary",
    "body": "Body",
    "identifier": "Identifier",
    "organisation": "Organisation",
    "funder": "Funder",
    "programme": "Programme",
    "amount_requested": "Amount requested",
    "amount_awarded": "Amount awarded",
    "currency": "Currency",
    "duration_months": "Duration (months)",
    "submitted_on": "Submitted on",
    "decided_on": "Decided on",
    "status": "Status",
    "visibility": "Visibility",
    "themes": "Themes",
    "locations": "Locations",
    "licence": "Licence",
    "source_url": "Source address",
    "attachments": "Attachments",
}
TOKEN_RE = re.compile(r"\s+|[^\s]+")


@dataclass
class Segment:
    """A run of text that is the same in both revisions, or only in the old or the new one."""

    kind: str  # "same", "removed" or "added"
    text: str


@dataclass
class FieldChange:
    field: str
    label: str
    old: str
    new: str
    # dataclasses.field: the name `field` is this class's own first attribute.
    segments: list[Segment] = dataclasses.field(default_factory=list)


def get_revision(bid: Bid, number: int) -> Revision:
    revision = db.session.scalar(
        select(Revision).where(Revision.bid_id == bid.id, Revision.number == number)
    )
    if revision is None:
        raise NotFound("No such revision.")
    return revision


def revision_count(bid: Bid) -> int:
    return db.session.scalar(select(func.count(Revision.id)).where(Revision.bid_id == bid.id)) or 0


def latest_revision_number(bid: Bid) -> int:
    return (
        db.session.scalar(select(func.max(Revision.number)).where(Revision.bid_id == bid.id)) or 0
    )


def list_revisions(bid: Bid) -> list[Revision]:
    """Newest first, without loading the snapshots (each holds a whole bid)."""
    return list(
        db.session.scalars(
            select(Revision)
            .where(Revision.bid_id == bid.id)
            .options(defer(Revision.snapshot), selectinload(Revision.author))
            .order_by(Revision.number.desc())
        )
    )


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def word_diff(old: str, new: str) -> list[Segment]:
    """Word-level differences, merged into runs so the result reads like prose."""
    a, b = TOKEN_RE.findall(old), TOKEN_RE.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    segments: list[Segment] = []

    def push(kind: str, text: str) -> None:
        if not text:
            return
        if segments and segments[-1].kind == kind:
            segments[-1].text += text
        else:
            segments.append(Segment(kind, text))

    opcodes = matcher.get_opcodes()
    pending_removed: list[str] = []
    pending_added: list[str] = []

    def flush() -> None:
        push("removed", "".join(pending_removed))
        push("added", "".join(pending_added))
        pending_removed.clear()
        pending_added.clear()

    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        old_text, new_text = "".join(a[i1:i2]), "".join(b[j1:j2])
        # A lone space between two changes belongs to the change: "old words" -> "new words"
        # reads better than alternating one-word deletions and insertions.
        between_changes = 0 < n < len(opcodes) - 1 and opcodes[n + 1][0] != "equal"
        if op == "equal" and not (between_changes and old_text.isspace()):
            flush()
            push("same", old_text)
        else:
            pending_removed.append(old_text)
            pending_added.append(new_text)
    flush()
    return segments


def compare_snapshots(old: dict, new: dict) -> list[FieldChange]:
    changes = []
    for key, label in FIELD_LABELS.items():
        before, after = _as_text(old.get(key)), _as_text(new.get(key))
        if before != after:
            changes.append(FieldChange(key, label, before, after, word_diff(before, after)))
    return changes


def compare_revisions(bid: Bid, old_number: int, new_number: int) -> list[FieldChange]:
    old, new = get_revision(bid, old_number), get_revision(bid, new_number)
    return compare_snapshots(old.snapshot, new.snapshot)
