"""One record checked by the shared field rules and turned into Bid column values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bids.errors import ValidationError
from bids.fields import clean_bid_fields, clean_party
from bids.models import BidStatus, Visibility, to_minor

# Row field -> Bid column, for the fields copied as they are.
PLAIN_COLUMNS = {
    "title": "title",
    "summary": "summary",
    "body": "body",
    "programme": "programme",
    "currency": "currency",
    "duration_months": "duration_months",
    "submitted_on": "submitted_on",
    "decided_on": "decided_on",
    "status": "status",
    "themes": "themes",
    "locations": "locations",
    "licence": "licence",
    "url": "source_url",
}
MONEY_COLUMNS = {
    "amount_requested": "amount_requested_minor",
    "amount_awarded": "amount_awarded_minor",
}
COMPARED_COLUMNS = (
    *PLAIN_COLUMNS.values(),
    *MONEY_COLUMNS.values(),
    "organisation_id",
    "funder_id",
    "visibility",
)


@dataclass
class CleanRow:
    """A record that passed the rules, with the parties it names."""

    line: int
    fields: dict[str, Any]
    given: frozenset[str]  # the fields the row gave a value (an update changes only these)
    organisation: dict[str, Any]
    funder: dict[str, Any]
    # 360Giving imports: every party as given, and the extra Bid columns the grant fills.
    full_parties: tuple[dict[str, Any], ...] = ()
    columns: dict[str, Any] = field(default_factory=dict)


def clean_row(line: int, record: Mapping[str, Any]) -> CleanRow:
    """Validate one record with the shared rules; raises ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    try:
        fields = clean_bid_fields(record)
    except ValidationError as exc:
        errors.update(exc.errors)
    parties: dict[str, Any] = {}
    for key, label in (("organisation", "Organisation"), ("funder", "Funder")):
        try:
            parties[key] = clean_party(record.get(key), label)
        except ValidationError as exc:
            errors[key] = next(iter(exc.errors.values()))
            continue
        if parties[key] is None:
            errors[key] = f"{label} name is required."
    if errors:
        raise ValidationError(errors)
    # Empty values count as not given: a blank CSV cell neither clears a field nor sets a default.
    given = frozenset(
        k
        for k, v in record.items()
        if (k in PLAIN_COLUMNS or k in MONEY_COLUMNS) and v not in (None, "", [])
    )
    return CleanRow(line, fields, given, parties["organisation"], parties["funder"])


def describe(exc: ValidationError) -> str:
    """Every bad field of a row on one line, for the report."""
    return "; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in exc.errors.items())


def bid_values(row: CleanRow, org_id: int, funder_id: int) -> dict[str, Any]:
    """Bid column values from a clean row (all of them, for a new bid)."""
    fields = row.fields
    values: dict[str, Any] = {column: fields.get(key) for key, column in PLAIN_COLUMNS.items()}
    for key, column in MONEY_COLUMNS.items():
        values[column] = to_minor(fields.get(key))
    values["summary"] = values["summary"] or ""
    values["body"] = values["body"] or ""
    values["programme"] = values["programme"] or ""
    if "status" not in row.given:
        values["status"] = BidStatus.SUBMITTED
    values["organisation_id"] = org_id
    values["funder_id"] = funder_id
    values["visibility"] = Visibility.PUBLISHED
    return values


def changed_values(row: CleanRow, new: dict[str, Any]) -> dict[str, Any]:
    """For an existing bid: the columns the row gave (plus who and published), nothing else."""
    keep = {"organisation_id", "funder_id", "visibility"}
    keep.update(PLAIN_COLUMNS[k] for k in row.given if k in PLAIN_COLUMNS)
    keep.update(MONEY_COLUMNS[k] for k in row.given if k in MONEY_COLUMNS)
    return {column: value for column, value in new.items() if column in keep}
