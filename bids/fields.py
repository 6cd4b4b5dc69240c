"""Cleaning of bid fields: one set of rules for web forms, the API and bulk import.

`clean_bid_fields` turns loosely typed input (form strings, JSON values, CSV
cells) into typed values, or raises `ValidationError` naming every bad field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry

from bids.errors import ValidationError
from bids.models import BidStatus, OrgKind, Visibility

LICENCES = {
    "CC-BY-4.0": "Creative Commons Attribution 4.0",
    "CC0-1.0": "CC0 1.0 (public domain dedication)",
    "CC-BY-SA-4.0": "Creative Commons Attribution-ShareAlike 4.0",
    "PDDL-1.0": "Open Data Commons Public Domain Dedication and Licence 1.0",
    "OGL-UK-3.0": "Open Government Licence v3.0",
    "all-rights-reserved": "All rights reserved",
}
LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "PDDL-1.0": "https://opendatacommons.org/licenses/pddl/1-0/",
    "OGL-UK-3.0": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}
DEFAULT_LICENCE = "CC-BY-4.0"

UK_NATIONS = ["England", "Northern Ireland", "Scotland", "Wales"]
ENGLISH_REGIONS = [
    "East Midlands",
    "East of England",
    "London",
    "North East",
    "North West",
    "South East",
    "South West",
    "West Midlands",
    "Yorkshire and the Humber",
]
SUGGESTED_LOCATIONS = UK_NATIONS + ENGLISH_REGIONS

# org-id.guide: two-letter country or XI/XM, a list code, then the identifier.
ORG_IDENTIFIER_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,12}-[A-Za-z0-9][A-Za-z0-9._/-]{0,80}$")
ISO_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
BID_IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")

MAX_TITLE = 300
MAX_SUMMARY = 5_000
MAX_BODY = 500_000
MAX_TAGS = 30
MAX_AMOUNT = Decimal("1000000000000")  # a trillion: far above any grant, well inside BigInteger


def currency_codes() -> list[str]:
    return sorted(c.alpha_3 for c in pycountry.currencies)


def clean_org_identifier(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    text = text.upper() if text[:2].isalpha() else text
    prefix, _, rest = text.partition("-")
    scheme, _, local = rest.partition("-")
    normalised = f"{prefix.upper()}-{scheme.upper()}-{local}" if local else text
    if not ORG_IDENTIFIER_RE.match(normalised):
        raise ValidationError(
            {"identifier": "Use the org-id form: country, list and number, e.g. GB-CHC-1164883."}
        )
    return normalised


def clean_org_kind(value: Any) -> str:
    text = (_text(value) or OrgKind.APPLICANT).lower()
    if text not in {k.value for k in OrgKind}:
        raise ValidationError(
            {"kind": f"Kind must be one of {', '.join(k.value for k in OrgKind)}."}
        )
    return text


def clean_tags(value: Any) -> list[str]:
    """A list from a JSON list or a `;`/`,`-separated string; trimmed, de-duplicated, ordered."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: Iterable[Any] = re.split(r"[;,\n]", value)
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValidationError("Tags must be a list or a text separated by semicolons.")
    seen: dict[str, str] = {}
    for item in items:
        tag = re.sub(r"\s+", " ", str(item)).strip()
        if tag and tag.casefold() not in seen:
            if len(tag) > 80:
                raise ValidationError("Each tag must be at most 80 characters.")
            seen[tag.casefold()] = tag
    if len(seen) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags.")
    return list(seen.values())


def clean_party(value: Any, label: str) -> dict[str, str | None] | None:
    """An organisation reference: `{name, identifier}`, or a bare name."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{label} must be an object with a name.")
    name = _text(value.get("name"))
    if not name:
        raise ValidationError(f"{label} needs a name.")
    if len(name) > 200:
        raise ValidationError(f"{label} name must be at most 200 characters.")
    try:
        identifier = clean_org_identifier(value.get("identifier"))
    except ValidationError as exc:
        raise ValidationError(f"{label} identifier: {exc.errors['identifier']}") from None
    return {"name": name, "identifier": identifier}


def clean_bid_fields(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate bid input. With `partial`, only the keys present are checked and returned."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}

    def take(key: str, cleaner, *args) -> None:
        if partial and key not in data:
            return
        try:
            out[key] = cleaner(data.get(key), *args)
        except ValidationError as exc:
            errors[key] = next(iter(exc.errors.values()))

    take("identifier", _identifier)
    take("title", _required_text, "Title", MAX_TITLE)
    take("summary", _optional_text, "Summary", MAX_SUMMARY)
    take("body", _optional_text, "Body", MAX_BODY)
    take("funder", clean_party, "Funder")
    take("programme", _optional_text, "Programme", 200)
    take("amount_requested", clean_amount)
    take("amount_awarded", clean_amount)
    take("currency", clean_currency)
    take("duration_months", _duration)
    take("submitted_on", clean_date)
    take("decided_on", clean_date)
    take("status", _choice, BidStatus, BidStatus.DRAFT)
    take("visibility", _choice, Visibility, Visibility.DRAFT)
    take("themes", _tags)
    take("locations", _tags)
    take("licence", _licence)
    take("url", _url)

    if not errors and not partial and not (out.get("summary") or out.get("body")):
        errors["body"] = "Write a summary or a body: a bid needs some text."
    if not errors:
        sub, dec = out.get("submitted_on"), out.get("decided_on")
        if sub and dec and dec < sub:
            errors["decided_on"] = "The decision date cannot be before the submission date."
    if errors:
        raise ValidationError(errors)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ValidationError("Must be text.")
    text = str(value).replace("\r\n", "\n").strip()
    # NUL bytes are refused by PostgreSQL and are never meaningful in a bid.
    return text.replace("\x00", "")


def _required_text(value: Any, label: str, limit: int) -> str:
    text = _text(value)
    if not text:
        raise ValidationError(f"{label} is required.")
    if len(text) > limit:
        raise ValidationError(f"{label} must be at most {limit:,} characters.")
    return text


def _optional_text(value: Any, label: str, limit: int) -> str:
    text = _text(value) or ""
    if len(text) > limit:
        raise ValidationError(f"{label} must be at most {limit:,} characters.")
    return text


def _identifier(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    if not BID_IDENTIFIER_RE.match(text):
        raise ValidationError(
            "Identifiers use letters, digits and . _ : / - only (e.g. 360G-openbids-12)."
        )
    return text


def clean_amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("Must be a number.")
    text = str(value).strip().replace(",", "").lstrip("£$€")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError("Must be a number, e.g. 300000 or 1250.50.") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError("Must be zero or more.")
    if amount > MAX_AMOUNT:
        raise ValidationError("Is implausibly large.")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError("At most two decimal places.")
    return amount


def clean_currency(value: Any) -> str:
    code = (_text(value) or "GBP").upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationError(f"{code} is not an ISO 4217 currency code.")
    return code


def _duration(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        months = int(str(value).strip())
    except ValueError:
        raise ValidationError("Must be a whole number of months.") from None
    if not 0 < months <= 240:
        raise ValidationError("Must be between 1 and 240 months.")
    return months


def clean_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    # A full ISO timestamp is accepted for its date; anything else after the date is an error.
    if ISO_TIMESTAMP_RE.match(text):
        text = text[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("Use an ISO date, YYYY-MM-DD.") from None


def _choice(value: Any, enum_cls, default) -> str:
    text = (_text(value) or default).lower()
    allowed = [m.value for m in enum_cls]
    if text not in allowed:
        raise ValidationError(f"Must be one of {', '.join(allowed)}.")
    return text


def _tags(value: Any) -> list[str]:
    return clean_tags(value)


def _licence(value: Any) -> str:
    text = _text(value) or DEFAULT_LICENCE
    for key in LICENCES:
        if key.lower() == text.lower():
            return key
    raise ValidationError(f"Licence must be one of {', '.join(LICENCES)}.")


def _url(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    if not re.match(r"^https?://[^\s<>\"']+$", text) or len(text) > 500:
        raise ValidationError("Must be an http(s) address.")
    return text
