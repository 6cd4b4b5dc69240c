"""A 360Giving grant -> the importer's record (its canonical field names), and back.

What maps to a Bid column goes there (`id` -> identifier, `title`, `description` -> body,
amounts, `currency`, `awardDate` -> decided_on, the first recipient and funder, the first
`grantProgramme` title -> programme, `classifications` titles -> themes,
`beneficiaryLocation` names -> locations, `plannedDates[0].duration` -> duration_months,
`url`). The 360Giving-only fields with a column of their own are in `COLUMN_FIELDS`; the
rest of the grant (every recipient and funder with every identifier, the full
`classifications`, `beneficiaryLocation` with geocodes, `grantProgramme`, `plannedDates`,
anything else the publisher wrote) is kept whole in the `giving360` JSON column. Nothing
is invented: no `submitted_on` (360Giving records awards, not applications), and the
licence only when the file, the publisher or the person importing states it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bids.errors import ValidationError
from bids.fields import LICENCE_URLS, LICENCES, MAX_TAGS, clean_org_identifier
from bids.models import BidStatus

# Grant fields stored in Bid's own columns; the rest of the grant goes to `giving360`.
MAPPED_FIELDS = frozenset(
    {
        "id",
        "title",
        "description",
        "currency",
        "amountAppliedFor",
        "amountAwarded",
        "awardDate",
        "url",
        "dataSource",
        "dateModified",
        "fromOpenCall",
    }
)
# Record keys the importer does not know yet: Bid columns written as they are.
COLUMN_FIELDS = (
    "planned_start_on",
    "planned_end_on",
    "from_open_call",
    "data_source",
    "source_modified_at",
    "giving360",
)
URL_RE = re.compile(r"^https?://[^\s<>\"']+$")
MAX_TAG = 80
LICENCE_ALIASES = {"odc-pddl-1.0": "PDDL-1.0", "ogl-3.0": "OGL-UK-3.0", "cc0": "CC0-1.0"}


@dataclass(frozen=True)
class Skip:
    """A grant Open Bids does not take, with the reason (counted, not listed per row)."""

    reason: str


INDIVIDUAL = Skip("grants to individuals (Open Bids publishes organisations' bids)")

# 360Giving's yes/no codes (anything else, or nothing, is unknown).
YES_NO: dict[Any, bool] = {"Yes": True, "No": False}


def licence_from(value: Any) -> str | None:
    """An Open Bids licence key from a 360Giving `license` URL or a key; None when unknown."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    text = LICENCE_ALIASES.get(text.lower(), text)
    for key in LICENCES:
        if key.lower() == text.lower():
            return key
    wanted = _url_key(text)
    for key, url in LICENCE_URLS.items():
        if _url_key(url) == wanted:
            return key
    return None


def _url_key(url: str) -> str:
    url = url.lower().split("://", 1)[-1].removeprefix("www.")
    return url.rstrip("/").removesuffix("/legalcode").removesuffix("/deed.en")


def normalise_name(name: str) -> str:
    """The form names are compared in: case, accents, punctuation, '&' and a leading 'The'
    ignored ("The National Lottery Community Fund" == "national lottery community fund"
    == "National Lottery Community Fund, The")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"^(.*),\s*the\s*$", r"the \1", text.strip(), flags=re.IGNORECASE)
    text = text.casefold().replace("&", " and ")
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.removeprefix("the ")


def party(org: Any) -> dict[str, Any] | None:
    """An importer party `{name, identifier, identifiers}`: identifier is the org-id (None
    for a 360G- local id, which stays in identifiers)."""
    if not isinstance(org, dict):
        return None
    ident = org.get("id")
    ident = ident.strip() if isinstance(ident, str) and ident.strip() else None
    try:
        org_id = clean_org_identifier(ident)
    except ValidationError:
        org_id = None
    return {"name": org.get("name"), "identifier": org_id, "identifiers": [ident] if ident else []}


def grant_to_record(grant: dict[str, Any], licence: str | None) -> dict[str, Any] | Skip:
    """The importer's record for one grant, or Skip for a grant to an individual."""
    recipients = _objects(grant.get("recipientOrganization"))
    if not recipients and grant.get("recipientIndividual"):
        return INDIVIDUAL
    funders = _objects(grant.get("fundingOrganization"))
    programmes = _objects(grant.get("grantProgramme"))
    planned = (_objects(grant.get("plannedDates")) or [{}])[0]
    award_date = grant.get("awardDate")
    record: dict[str, Any] = {
        "identifier": grant.get("id"),
        "title": grant.get("title"),
        "body": grant.get("description"),
        "amount_requested": grant.get("amountAppliedFor"),
        "amount_awarded": grant.get("amountAwarded"),
        "currency": grant.get("currency"),
        "decided_on": str(award_date)[:10] if award_date else None,
        "status": BidStatus.AWARDED,
        "organisation": party(recipients[0]) if recipients else None,
        "funder": party(funders[0]) if funders else None,
        "programme": next(
            (
                p["title"]
                for p in programmes
                if isinstance(p.get("title"), str) and p["title"].strip()
            ),
            None,
        ),
        "themes": _tags(c.get("title") for c in _objects(grant.get("classifications"))),
        "locations": _tags(loc.get("name") for loc in _objects(grant.get("beneficiaryLocation"))),
        "duration_months": _months(planned.get("duration")),
        "url": grant["url"]
        if isinstance(grant.get("url"), str)
        and URL_RE.match(grant["url"])
        and len(grant["url"]) <= 500
        else None,
        "planned_start_on": _day(planned.get("startDate")),
        "planned_end_on": _day(planned.get("endDate")),
        "from_open_call": YES_NO.get(grant.get("fromOpenCall")),
        "data_source": grant.get("dataSource")
        if isinstance(grant.get("dataSource"), str)
        else None,
        "source_modified_at": _moment(grant.get("dateModified")),
        "giving360": {k: v for k, v in grant.items() if k not in MAPPED_FIELDS},
    }
    if record["url"] is None and grant.get("url"):
        record["giving360"]["url"] = grant["url"]  # not an address Open Bids can link: kept
    if licence:
        record["licence"] = licence
    return record


def _objects(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _tags(values) -> list[str]:
    """Distinct short names, as Bid themes/locations hold them (the full objects are kept)."""
    seen: dict[str, str] = {}
    for value in values:
        if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_TAG:
            seen.setdefault(value.strip().casefold(), value.strip())
    return list(seen.values())[:MAX_TAGS]


def _months(value: Any) -> int | None:
    """A whole number of months Open Bids' column holds (1-240); others stay in plannedDates."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() and 0 < value <= 240 else None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    """A UTC timestamp, naive as every timestamp Open Bids stores."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        day = _day(text)
        return datetime(day.year, day.month, day.day) if day else None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when
