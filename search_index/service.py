"""The search service views and the API call: `get_search_service().search(user, q, filters, ...)`.

Results carry bid ids (the view loads the bids from the database, the source of
truth), highlighted snippets, the total, facet counts and spelling suggestions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import select
from whoosh import query as wq

from bids.database import db
from bids.models import Attachment, Bid, BidStatus, User
from search_index.docvalues import MISSING, DocValues, Values
from search_index.index import SearchIndex
from search_index.query import OPERATORS, QueryBuilder
from search_index.schema import make_analyzer

SORTS = ("relevance", "newest", "amount")
FACET_FIELDS = ("funder", "status", "year", "theme", "location", "band")
FACET_LIMIT = 12
SNIPPET_CHARS = 4_000  # highlight within the first part of long texts only
# Amount bands in major units (any currency): (key, lower, upper or None).
BANDS = (
    ("0-10000", 0, 10_000),
    ("10000-50000", 10_000, 50_000),
    ("50000-100000", 50_000, 100_000),
    ("100000-500000", 100_000, 500_000),
    ("500000-1000000", 500_000, 1_000_000),
    ("1000000-", 1_000_000, None),
)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_TOKEN = re.compile(r"\w+", re.UNICODE)


def band_label(key: str) -> str:
    for band_key, low, high in BANDS:
        if band_key == key:
            return f"{low:,} and over" if high is None else (
                f"Under {high:,}" if low == 0 else f"{low:,} to {high:,}")
    return key


@dataclass
class Filters:
    """Facet filters (OR within a field, AND across fields) and amount bounds in minor units."""

    funder: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    year: list[int] = field(default_factory=list)
    theme: list[str] = field(default_factory=list)
    location: list[str] = field(default_factory=list)
    band: list[str] = field(default_factory=list)
    min_amount: int | None = None
    max_amount: int | None = None
    organisation_ids: set[int] | None = None  # from the API's `organisation` filter
    bid_ids: set[int] | None = None           # from the API's `identifier` filter

    def active(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in FACET_FIELDS if getattr(self, name)}


def _minor(raw: str, name: str) -> int:
    try:
        value = Decimal(raw.replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"`{name}` must be an amount, e.g. 25000 or 25000.50.") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"`{name}` must be an amount of zero or more.")
    return int((value * 100).to_integral_value())


def filters_from_args(args: Mapping[str, Any], *, strict: bool = False) -> Filters:
    """Filters from query-string arguments (a MultiDict); bad values raise ValueError when strict."""
    getlist = args.getlist if hasattr(args, "getlist") else (lambda k: [args[k]] if k in args else [])
    filters = Filters()
    for name in ("funder", "theme", "location"):
        setattr(filters, name, [v.strip() for v in getlist(name) if v and v.strip()])
    statuses = {s.value for s in BidStatus}
    for value in getlist("status"):
        value = value.strip().lower()
        if value in statuses:
            filters.status.append(value)
        elif value and strict:
            raise ValueError(f"`status` must be one of {', '.join(sorted(statuses))}.")
    for value in getlist("year"):
        if value.strip().isdigit() and 1000 <= int(value) <= 9998:
            filters.year.append(int(value))
        elif value.strip() and strict:
            raise ValueError("`year` must be a year such as 2022.")
    keys = {key for key, _, _ in BANDS}
    filters.band = [v for v in getlist("band") if v in keys]
    for name in ("min_amount", "max_amount"):
        raw = args.get(name)
        if raw not in (None, ""):
            try:
                setattr(filters, name, _minor(str(raw), name))
            except ValueError:
                if strict:
                    raise
    return filters


@dataclass
class Hit:
    bid_id: int
    score: float | None = None
    snippet: Markup | None = None


@dataclass
class FacetValue:
    value: str
    count: int
    label: str
    selected: bool = False


@dataclass
class Results:
    items: list[Hit]
    total: int
    page: int
    per_page: int
    sort: str
    query: str
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    corrected_query: str | None = None
    fell_back: bool = False
    message: str | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def bid_ids(self) -> list[int]:
        return [hit.bid_id for hit in self.items]


class Snippeter:
    """Highlighted snippets: the text escaped, words whose stem the query looks for in <mark>.

    Whoosh's own highlighter runs every token through the analyzer chain (~7 ms a result);
    this one stems each distinct word once and remembers it.
    """

    def __init__(self, analyzer, *, surround: int = 90, fragments: int = 2):
        self.analyzer = analyzer
        self.surround = surround
        self.fragments = fragments
        self._stems: dict[str, str | None] = {}

    def stem(self, word: str) -> str | None:
        stem = self._stems.get(word, "")
        if stem == "":
            tokens = [t.text for t in self.analyzer(word)]
            stem = tokens[0] if tokens else None
            if len(self._stems) > 200_000:
                self._stems.clear()
            self._stems[word] = stem
        return stem

    def __call__(self, text: str, terms: set[str]) -> Markup | None:
        matches = [m for m in _TOKEN.finditer(text) if self.stem(m.group(0).lower()) in terms]
        if not matches:
            return None
        pieces, last_end = [], -1
        for match in matches:
            if len(pieces) == self.fragments:
                break
            if match.start() < last_end:
                continue
            start = max(0, match.start() - self.surround)
            end = min(len(text), match.end() + self.surround * 2)
            if start > 0:  # start and end on word boundaries
                space = text.find(" ", start, match.start())
                start = space + 1 if space != -1 else start
            if end < len(text):
                space = text.rfind(" ", match.end(), end)
                end = space if space != -1 else end
            inside = [m for m in matches if m.start() >= start and m.end() <= end]
            out, cursor = [], start
            for m in inside:
                out.append(str(escape(text[cursor:m.start()])))
                out.append(f"<mark>{escape(m.group(0))}</mark>")
                cursor = m.end()
            out.append(str(escape(text[cursor:end])))
            pieces.append(("… " if start > 0 else "") + "".join(out).strip()
                          + (" …" if end < len(text) else ""))
            last_end = end
        return Markup(" ".join(pieces))


class _MaskFilter(set):
    """A Whoosh `filter` that is a boolean numpy mask (no 40,000-element Python set per query)."""

    def __init__(self, mask: np.ndarray):
        super().__init__()
        self.mask = mask

    def __contains__(self, docnum) -> bool:
        return bool(self.mask[docnum])

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return int(self.mask.sum())


class SearchService:
    def __init__(self, index: SearchIndex):
        self.index = index
        self.docvalues = DocValues()
        self.analyzer = make_analyzer()
        self.snippeter = Snippeter(self.analyzer)
        self._builder: QueryBuilder | None = None
        self._lock = threading.Lock()

    def builder(self, schema) -> QueryBuilder:
        with self._lock:
            if self._builder is None:
                self._builder = QueryBuilder(schema)
            return self._builder

    # --- masks -------------------------------------------------------------------------

    @staticmethod
    def _permission_mask(user: Any, values: Values) -> np.ndarray:
        if isinstance(user, User) and user.is_admin:
            return values.alive.copy()
        public = values.code_of("public", "1")
        mask = values.single["public"] == (public if public is not None else -2)
        if isinstance(user, User):
            codes = [values.code_of("org_id", str(i)) for i in user.organisation_ids()]
            codes = [c for c in codes if c is not None]
            if codes:
                mask |= np.isin(values.single["org_id"], codes)
        return mask & values.alive

    @staticmethod
    def _facet_mask(name: str, selected: list, values: Values) -> np.ndarray:
        if name == "band":
            amount = values.numeric["amount"]
            mask = np.zeros(values.n, dtype=bool)
            for key, low, high in BANDS:
                if key in selected:
                    hit = (amount >= low * 100) & (amount != MISSING)
                    if high is not None:
                        hit &= amount < high * 100
                    mask |= hit
            return mask
        if name == "year":
            return np.isin(values.numeric["year"], [int(v) for v in selected])
        if name in ("theme", "location"):
            vocab = values.vocab[name]
            codes = [vocab.codes[v] for v in selected if v in vocab.codes]
            docs, doc_codes = values.multi[name]
            mask = np.zeros(values.n, dtype=bool)
            mask[docs[np.isin(doc_codes, codes)]] = True
            return mask
        vocab = values.vocab[name]
        wanted = {v.lower() for v in selected} if name == "funder" else set(selected)
        codes = [c for v, c in vocab.codes.items()
                 if (v.lower() if name == "funder" else v) in wanted]
        return np.isin(values.single[name], codes)

    def _base_mask(self, user, filters: Filters, values: Values) -> np.ndarray:
        mask = self._permission_mask(user, values)
        amount = values.numeric["amount"]
        if filters.min_amount is not None:
            mask &= (amount >= filters.min_amount) & (amount != MISSING)
        if filters.max_amount is not None:
            mask &= (amount <= filters.max_amount) & (amount != MISSING)
        if filters.organisation_ids is not None:
            codes = [values.code_of("org_id", str(i)) for i in filters.organisation_ids]
            mask &= np.isin(values.single["org_id"], [c for c in codes if c is not None])
        if filters.bid_ids is not None:
            mask &= self._ids_mask(filters.bid_ids, values)
        return mask

    def _ids_mask(self, bid_ids: set[int], values: Values) -> np.ndarray:
        mask = np.zeros(values.n, dtype=bool)
        reader = self.index.searcher().reader()
        for bid_id in bid_ids:
            for docnum in reader.postings("id", str(bid_id)).all_ids() if reader.doc_frequency(
                    "id", str(bid_id)) else ():
                mask[docnum] = True
        return mask

    # --- searching ---------------------------------------------------------------------

    def search(self, user: Any, q: str = "", filters: Filters | None = None,
               sort: str = "relevance", page: int = 1, per_page: int = 20, *,
               snippets: bool = True, facets: bool = True) -> Results:
        filters = filters or Filters()
        sort = sort if sort in SORTS else "relevance"
        page, per_page = max(1, int(page)), max(1, min(int(per_page), 1000))
        searcher = self.index.searcher()
        values = self.docvalues.for_searcher(searcher)
        parsed = self.builder(searcher.schema).parse(q)
        if parsed.query is None and sort == "relevance":
            sort = "newest"

        base = self._base_mask(user, filters, values)
        if parsed.query is not None:
            docs = np.fromiter(parsed.query.docs(searcher), dtype=np.int64)
            query_mask = np.zeros(values.n, dtype=bool)
            query_mask[docs] = True
            base &= query_mask
        facet_masks = {name: self._facet_mask(name, sel, values)
                       for name, sel in filters.active().items()}
        final = base.copy()
        for mask in facet_masks.values():
            final &= mask
        matched = np.flatnonzero(final)
        total = int(matched.size)

        start = (page - 1) * per_page
        hits = self._page(searcher, parsed.query, sort, final, matched, values, start, per_page)
        results = Results(hits, total, page, per_page, sort, parsed.text,
                          fell_back=parsed.fell_back, message=parsed.message)
        if facets:
            results.facets = self._facets(values, base, facet_masks, filters)
        if snippets and hits and parsed.query is not None:
            self._add_snippets(searcher, parsed.query, hits)
        if total < 3 and parsed.query is not None and parsed.text:
            results.corrected_query = self._correction(searcher, parsed.text)
        return results

    def iter_bid_ids(self, user: Any, q: str = "", filters: Filters | None = None,
                     sort: str = "relevance", chunk: int = 1000) -> Iterator[int]:
        """Every result in order (for exports), a chunk at a time."""
        first = self.search(user, q, filters, sort, 1, chunk, snippets=False, facets=False)
        yield from first.bid_ids
        for page in range(2, first.pages + 1):
            yield from self.search(user, q, filters, sort, page, chunk,
                                   snippets=False, facets=False).bid_ids

    def _page(self, searcher, query, sort, final, matched, values, start, per_page) -> list[Hit]:
        if matched.size == 0 or start >= matched.size:
            return []
        stored_id = self._ids_of(searcher)
        if sort == "relevance":
            results = searcher.search(query, filter=_MaskFilter(final), limit=start + per_page)
            return [Hit(int(stored_id(hit.docnum)), score=hit.score)
                    for hit in results[start:start + per_page]]
        key = values.numeric["published" if sort == "newest" else "amount"][matched]
        # Highest first, missing values last, ties by document order (stable).
        order = np.lexsort((matched, -key, key == MISSING))
        chosen = matched[order[start:start + per_page]]
        return [Hit(int(stored_id(int(docnum)))) for docnum in chosen]

    @staticmethod
    def _ids_of(searcher):
        return lambda docnum: searcher.stored_fields(docnum)["id"]

    def _facets(self, values: Values, base: np.ndarray, facet_masks: dict[str, np.ndarray],
                filters: Filters) -> dict[str, list[FacetValue]]:
        out: dict[str, list[FacetValue]] = {}
        for name in FACET_FIELDS:
            mask = base.copy()
            for other, other_mask in facet_masks.items():
                if other != name:  # a facet's own choice does not hide its alternatives
                    mask &= other_mask
            selected = {str(v) for v in getattr(filters, name)}
            out[name] = self._count(name, mask, values, selected)
        return out

    def _count(self, name: str, mask: np.ndarray, values: Values,
               selected: set[str]) -> list[FacetValue]:
        if name == "band":
            amount = values.numeric["amount"][mask]
            amount = amount[amount != MISSING]
            items = []
            for key, low, high in BANDS:
                hit = amount >= low * 100
                if high is not None:
                    hit &= amount < high * 100
                count = int(hit.sum())
                if count or key in selected:
                    items.append(FacetValue(key, count, band_label(key), key in selected))
            return items
        if name == "year":
            years = values.numeric["year"][mask]
            years = years[years != MISSING]
            found, counts = np.unique(years, return_counts=True)
            items = [FacetValue(str(y), int(c), str(y), str(y) in selected)
                     for y, c in zip(found.tolist(), counts.tolist(), strict=True)]
            items.sort(key=lambda f: -int(f.value))
        else:
            if name in ("theme", "location"):
                docs, codes = values.multi[name]
                codes = codes[mask[docs]] if docs.size else codes
            else:
                codes = values.single[name][mask]
                codes = codes[codes != MISSING]
            vocab = values.vocab[name].values
            counts = np.bincount(codes, minlength=len(vocab)) if codes.size else np.zeros(0, int)
            nonzero = np.flatnonzero(counts)
            items = [FacetValue(vocab[c], int(counts[c]),
                                vocab[c].capitalize() if name == "status" else vocab[c],
                                vocab[c] in selected) for c in nonzero]
            items.sort(key=lambda f: (-f.count, f.value.lower()))
        chosen = [f for f in items if f.selected]
        top = items[:FACET_LIMIT]
        return top + [f for f in chosen if f not in top]

    # --- snippets and spelling ---------------------------------------------------------

    def _add_snippets(self, searcher, query, hits: list[Hit]) -> None:
        terms = _highlight_terms(query, searcher.reader())
        if not terms:
            return
        ids = [hit.bid_id for hit in hits]
        texts = {bid_id: [summary or "", body or ""] for bid_id, summary, body in db.session.execute(
            select(Bid.id, Bid.summary, Bid.body).where(Bid.id.in_(ids)))}
        for bid_id, text in db.session.execute(
                select(Attachment.bid_id, Attachment.text).where(Attachment.bid_id.in_(ids))):
            if text and bid_id in texts:
                texts[bid_id][1] += "\n\n" + text
        for hit in hits:
            summary, body = texts.get(hit.bid_id, ("", ""))
            for text in (body, summary):
                snippet = self.snippeter(text[:SNIPPET_CHARS], terms) if text else None
                if snippet:
                    hit.snippet = snippet
                    break

    def _correction(self, searcher, text: str) -> str | None:
        """A 'did you mean' from the index's own words, when some word is unknown to it."""
        reader = searcher.reader()
        corrector = reader.corrector("title")
        changed = False

        def fix(match: re.Match) -> str:
            nonlocal changed
            word = match.group(0)
            if word in OPERATORS or text[match.end():match.end() + 1] == ":":
                return word
            stems = [t.text for t in self.analyzer(word.lower())]
            if not stems or any(reader.doc_frequency(f, stems[0]) for f in ("text", "title",
                                                                              "summary")):
                return word
            suggestions = corrector.suggest(word.lower(), limit=1, maxdist=2, prefix=1)
            if suggestions:
                changed = True
                return suggestions[0]
            return word

        corrected = _WORD.sub(fix, text)
        return corrected if changed and corrected != text else None


def _highlight_terms(query, reader, fields=("text", "summary"), prefix_limit=50) -> set[str]:
    """The indexed words a query looks for in the snippet fields (prefixes expanded)."""
    terms: set[str] = set()
    for leaf in query.leaves():
        if isinstance(leaf, wq.Prefix):
            if leaf.field() in fields:
                for n, (_, word) in enumerate(leaf.expanded_terms(reader)):
                    if n >= prefix_limit:
                        break
                    terms.add(word.decode("utf-8") if isinstance(word, bytes) else word)
            continue
        for fieldname, text in leaf.iter_all_terms(phrases=True):
            if fieldname in fields:
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else text)
    return terms


def get_search_service() -> SearchService:
    """The app's search service (one per app, sharing its caches between requests)."""
    service = current_app.extensions.get("search_service")
    if service is None:
        service = current_app.extensions["search_service"] = SearchService(
            current_app.extensions["search_index"])
    return service
