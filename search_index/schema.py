"""The Whoosh schema of the bid search index and how a bid becomes a document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from whoosh.analysis import Filter, RegexTokenizer
from whoosh.analysis.filters import STOP_WORDS
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.lang.porter import stem
from whoosh.support.charset import accent_map

from bids.models import Bid

# Attachments can be 100-page PDFs; past this many characters a document adds
# little to ranking and a lot to index size and rebuild time.
MAX_TEXT_CHARS = 200_000


class FoldStop(Filter):
    """`LowercaseFilter() | CharsetFilter(accent_map) | StopFilter()` in one pass, token for
    token the same (positions renumbered past the stop words; `stopped` when they are kept),
    each distinct word worked out once. With `Stem`, the five filters that cost 40% of the
    worker's time indexing under the load test."""

    CACHE_WORDS = 200_000  # words remembered (then forgotten at once, and learned again)

    def __init__(self) -> None:
        self.stops = frozenset(STOP_WORDS)
        self._words: dict[str, tuple[bool, str]] = {}

    def __eq__(self, other) -> bool:
        return isinstance(other, FoldStop) and self.stops == other.stops

    def __hash__(self) -> int:
        return hash(self.stops)

    def __getstate__(self) -> dict:  # the index's stored schema keeps no cache
        return {"stops": self.stops}

    def __setstate__(self, state: dict) -> None:
        self.stops, self._words = state["stops"], {}

    def _word(self, raw: str) -> tuple[bool, str]:
        folded = raw.lower().translate(accent_map)
        return len(folded) < 2 or folded in self.stops, folded  # StopFilter's minsize 2

    def __call__(self, tokens):
        words = self._words
        pos = None
        for t in tokens:
            known = words.get(t.text)
            if known is None:
                if len(words) >= self.CACHE_WORDS:
                    words.clear()
                known = words[t.text] = self._word(t.text)
            stopped, t.text = known
            if not stopped:
                if t.positions:  # StopFilter(renumber=True)
                    if pos is None:
                        pos = t.pos
                    else:
                        pos += 1
                        t.pos = pos
                t.stopped = False
                yield t
            elif not t.removestops:
                t.stopped = True
                yield t


class Stem(Filter):
    """`StemFilter()` (Porter) with a plain cache: Whoosh's takes a lock per word. Morphing,
    so the title's spelling words (`no_morph`) are left unstemmed, as with StemFilter."""

    is_morph = True
    CACHE_WORDS = 200_000

    def __init__(self) -> None:
        self._stems: dict[str, str] = {}

    def __eq__(self, other) -> bool:
        return isinstance(other, Stem)

    def __hash__(self) -> int:
        return hash(Stem)

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._stems = {}

    def __call__(self, tokens):
        stems = self._stems
        for t in tokens:
            if not t.stopped:
                stemmed = stems.get(t.text)
                if stemmed is None:
                    if len(stems) >= self.CACHE_WORDS:
                        stems.clear()
                    stemmed = stems[t.text] = stem(t.text)
                t.text = stemmed
            yield t


def make_analyzer():
    """English stemming with accent folding (so "café" finds "cafe"), the accents folded
    *before* stemming, as PostgreSQL's `openbids_english` does: stemmed first, "crèche" was
    indexed as "creche" and a search for "creche" looked for "crech", so neither spelling
    found the other (nor "ecoles" "écoles")."""
    return RegexTokenizer() | FoldStop() | Stem()


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
