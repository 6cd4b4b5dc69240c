"""The Whoosh schema of the bid search index and how a bid becomes a document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.support.charset import accent_map

from bids.models import Bid

# Attachments can be 100-page PDFs; past this many characters a document adds
# little to ranking and a lot to index size and rebuild time.
MAX_TEXT_CHARS = 200_000


def make_analyzer():
    """English stemming with accent folding (so "café" finds "cafe"), the accents folded
    *before* stemming, as PostgreSQL's `openbids_english` does: stemmed first, "crèche" was
    indexed as "creche" and a search for "creche" looked for "crech", so neither spelling
    found the other (nor "ecoles" "écoles")."""
    return (
        RegexTokenizer()
        | LowercaseFilter()
        | CharsetFilter(accent_map)
        | StopFilter()
        | StemFilter()
    )


def make_schema() -> Schema:
    analyzer = make_analyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        updated=ID(stored=True),  # the bid's updated_at (ISO): `index check` compares it
        title=TEXT(analyzer=analyzer, field_boost=3.0, spelling=True),
        summary=TEXT(analyzer=analyzer, field_boost=1.5),
        text=TEXT(analyzer=analyzer),
        organisation=TEXT(analyzer=analyzer),
        funder=TEXT(analyzer=analyzer),
        programme=TEXT(analyzer=analyzer),
        themes=KEYWORD(commas=True, lowercase=True, scorable=True),
        locations=KEYWORD(commas=True, lowercase=True, scorable=True),
        status=ID(),
        year=NUMERIC(numtype=int, bits=32, sortable=True),
        amount=NUMERIC(numtype=int, bits=64, sortable=True),  # minor units: never float
        submitted_on=DATETIME(sortable=True),
        published=DATETIME(sortable=True),
        # Exact display values, for facet counts and filter links.
        f_funder=KEYWORD(commas=True, lowercase=False),
        f_theme=KEYWORD(commas=True, lowercase=False),
        f_location=KEYWORD(commas=True, lowercase=False),
        # Permissions: public = published and not hidden; otherwise members of org_id only.
        org_id=ID(),
        public=ID(),
    )


def _keywords(values) -> str:
    return ",".join(v.replace(",", " ").strip() for v in (values or []) if v and v.strip())


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def bid_document(bid: Bid) -> dict[str, Any]:
    """The index document of one bid (what search can match, filter, sort and facet on)."""
    text_parts = [bid.body or ""]
    text_parts.extend(a.text for a in bid.attachments if a.text)
    text = "\n\n".join(p for p in text_parts if p)[:MAX_TEXT_CHARS]
    funder = bid.funder.name if bid.funder else ""
    doc: dict[str, Any] = {
        "id": str(bid.id),
        "updated": stamp(bid.updated_at),
        "title": bid.title or "",
        "summary": bid.summary or "",
        "text": text,
        "organisation": bid.organisation.name if bid.organisation else "",
        "funder": funder,
        "programme": bid.programme or "",
        "themes": _keywords(bid.themes),
        "locations": _keywords(bid.locations),
        "status": str(bid.status),
        "f_funder": funder.replace(",", " "),
        "f_theme": _keywords(bid.themes),
        "f_location": _keywords(bid.locations),
        "org_id": str(bid.organisation_id),
        "public": "1" if bid.is_public else "0",
    }
    year = bid.year
    if year is not None:
        doc["year"] = int(year)
    amount = bid_amount_minor(bid)
    if amount is not None:
        doc["amount"] = amount
    if bid.submitted_on:
        doc["submitted_on"] = _as_datetime(bid.submitted_on)
    if bid.published_at or bid.created_at:
        doc["published"] = bid.published_at or bid.created_at
    return {k: v for k, v in doc.items() if v != "" or k in ("title",)}


def bid_amount_minor(bid: Bid) -> int | None:
    """The amount search filters, sorts and bands on: awarded when known, else requested."""
    if bid.amount_awarded_minor is not None:
        return int(bid.amount_awarded_minor)
    if bid.amount_requested_minor is not None:
        return int(bid.amount_requested_minor)
    return None


def stamp(updated_at: datetime | None) -> str:
    return updated_at.isoformat(timespec="microseconds") if updated_at else ""
