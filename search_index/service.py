"""The search service views and the API call: `get_search_service().search(user, q, filters, ...)`.

Results carry bid ids (the view loads the bids from the database, the source of
truth), highlighted snippets, the total, facet counts and spelling suggestions. What may be
asked for is in `search_index.filters`, facet counting in `search_index.facets` and what a
result shows of its text in `search_index.snippets`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select
from whoosh.support.charset import accent_map

from bids.database import db
from bids.models import Bid, Organisation, User
from search_index.docsets import evaluate
from search_index.docvalues import MISSING, DocValues, Values
from search_index.facets import FacetValue, facet_counts, facet_mask
from search_index.filters import PageRequest, SearchFilters, SearchLimits, window_message
from search_index.index import SearchIndex
from search_index.query import (
    ExactClause,
    QueryBuilder,
    cap_prefixes,
    capped_message,
    split_exact,
)
from search_index.ranking import (
    RESCORE_WINDOW,
    in_order,
    rescore,
    title_begins,
    title_boost_words,
    title_factor,
)
from search_index.schema import make_analyzer
from search_index.snippets import Snippeter, add_snippets, spelling_correction


@dataclass
class Hit:
    bid_id: int
    score: float | None = None
    snippet: Markup | None = None


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
    window: int | None = None  # results beyond this many cannot be paged to (see the export)
    window_exceeded: bool = False  # the page asked for lies beyond the window

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def last_page(self) -> int:
        """The last page that can be shown (the result window caps deep paging)."""
        if self.window is None:
            return self.pages
        return max(1, min(self.pages, -(-self.window // self.per_page)))

    @property
    def bid_ids(self) -> list[int]:
        return [hit.bid_id for hit in self.items]


@dataclass
class Match:
    """What `SearchService.match` found (see there)."""

    searcher: Any
    values: Values
    parsed: Any  # search_index.query.ParsedQuery
    text: str  # the query as typed (trimmed)
    rest: str  # its words once the exact-value clauses are lifted out
    messages: list[str]
    base: np.ndarray  # permissions, amount bounds, exact clauses and words
    facet_masks: dict[str, np.ndarray]  # each selected facet's own mask
    scores: np.ndarray | None

    @property
    def final(self) -> np.ndarray:
        """Every filter applied: the documents the search's results are."""
        mask = self.base.copy()
        for facet in self.facet_masks.values():
            mask &= facet
        return mask


def _fold(value: str) -> str:
    return value.translate(accent_map).lower().strip()


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
    """Searches one index: permission, filter and facet masks over its doc values, then a page."""

    def __init__(self, index: SearchIndex, limits: SearchLimits):
        self.index = index
        self.prefix_terms = limits.prefix_terms
        self.max_window = limits.max_window
        self.docvalues = DocValues()
        self.analyzer = make_analyzer()
        self.snippeter = Snippeter(self.analyzer)
        self._builder: QueryBuilder | None = None
        self._lock = threading.Lock()
        self._prefix_cache: tuple[Any, dict] = (None, {})

    def _prefixes(self, searcher) -> dict:
        """Wildcard expansions already resolved on this searcher (an index generation)."""
        with self._lock:
            if self._prefix_cache[0] is not searcher:
                self._prefix_cache = (searcher, {})
            cache = self._prefix_cache[1]
            if len(cache) > 2000:
                cache.clear()
            return cache

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
            found = (values.code_of("org_id", str(i)) for i in user.organisation_ids())
            codes = [c for c in found if c is not None]
            if codes:
                mask |= np.isin(values.single["org_id"], codes)
        return mask & values.alive

    def base_mask(self, user, filters: SearchFilters, values: Values) -> np.ndarray:
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
            for docnum in (
                reader.postings("id", str(bid_id)).all_ids()
                if reader.doc_frequency("id", str(bid_id))
                else ()
            ):
                mask[docnum] = True
        return mask

    def _exact_mask(self, clauses: list[ExactClause], values: Values):
        """`field:value` clauses on exact-value fields as one mask over the doc values; the
        clauses whose value no document has exactly, as typed (searched as words instead)."""
        mask, unknown = None, []
        for clause in clauses:
            hit = self._clause_mask(clause, values)
            if hit is None:
                unknown.append(clause.source)
            else:
                mask = hit if mask is None else mask & hit
        return mask, unknown

    @staticmethod
    def _clause_mask(clause: ExactClause, values: Values) -> np.ndarray | None:
        name, wanted = clause.field, _fold(clause.value)
        if name == "funder":  # indexed with commas as spaces (see schema.bid_document)
            wanted = _fold(clause.value.replace(",", " "))
        if name == "year":
            if not (wanted.isdigit() and 1000 <= int(wanted) <= 9998):
                return None
            return values.numeric["year"] == int(wanted)
        if name == "organisation":
            ids = db.session.scalars(
                select(Organisation.id).where(func.lower(Organisation.name) == clause.value.lower())
            ).all()
            codes = [c for c in (values.code_of("org_id", str(i)) for i in ids) if c is not None]
            if not codes:
                return None
            return np.isin(values.single["org_id"], codes)
        vocab = values.vocab[name]
        codes = [c for v, c in vocab.codes.items() if _fold(v) == wanted]
        if not codes:
            return None
        if name in ("theme", "location"):
            docs, doc_codes = values.multi[name]
            mask = np.zeros(values.n, dtype=bool)
            mask[docs[np.isin(doc_codes, codes)]] = True
            return mask
        return np.isin(values.single[name], codes)

    # --- searching ---------------------------------------------------------------------

    def match(self, user: Any, q: str, filters: SearchFilters, *, scored: bool) -> Match:
        """What a search matches before any page is cut: the query as parsed (exact-value
        clauses as filters, wildcards capped), the mask its words and `user`'s permissions and
        amount bounds admit, each selected facet's mask, and (if `scored`) every document's
        score. The search page, the insights and the network map all start here."""
        searcher = self.index.searcher()
        values = self.docvalues.for_searcher(searcher)
        text = (q or "").strip()[:1000]
        clauses, rest = split_exact(text)
        exact, unknown = self._exact_mask(clauses, values) if clauses else (None, [])
        parsed = self.builder(searcher.schema).parse(" ".join([rest, *unknown]).strip())
        messages = [parsed.message] if parsed.message else []
        if parsed.query is not None:
            parsed.query, capped = cap_prefixes(
                parsed.query, searcher.reader(), self.prefix_terms, self._prefixes(searcher)
            )
            if capped:
                messages.append(capped_message(capped, self.prefix_terms))
        base = self.base_mask(user, filters, values)
        if exact is not None:
            base &= exact
        scores = None  # by document number; None: Whoosh ranks the page (docsets.evaluate)
        if parsed.query is not None:
            matches = evaluate(
                parsed.query,
                searcher,
                values.n,
                scored=scored,
                lengths=self.docvalues.field_lengths,
            )
            base &= matches.mask
            scores = matches.scores
        facet_masks = {
            name: facet_mask(name, sel, values) for name, sel in filters.active().items()
        }
        return Match(searcher, values, parsed, text, rest, messages, base, facet_masks, scores)

    def search(
        self,
        user: Any,
        q: str = "",
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        *,
        snippets: bool = True,
        facets: bool = True,
        windowed: bool = True,
    ) -> Results:
        """One page of results; `windowed=False` (exports) pages past the result window."""
        filters = filters or SearchFilters()
        asked = PageRequest.of(sort, page, per_page, self.max_window, windowed)
        sort, page, per_page, window = asked.sort, asked.page, asked.per_page, asked.window
        found = self.match(user, q, filters, scored=sort == "relevance" and not asked.past_window)
        searcher, values, parsed, messages = (
            found.searcher,
            found.values,
            found.parsed,
            found.messages,
        )
        if parsed.query is None and sort == "relevance":
            sort = "newest"
        final = found.final
        matched = np.flatnonzero(final)
        total = int(matched.size)
        exceeded = asked.refused(total)
        if window is not None and exceeded:
            hits = []
            messages.append(window_message(window, total))
        else:
            words = title_boost_words(found.rest) if sort == "relevance" else []
            hits = self._page(
                searcher,
                parsed.query,
                sort,
                final,
                matched,
                values,
                asked.start,
                asked.size,
                words,
                found.scores,
            )
        results = Results(
            hits,
            total,
            page,
            per_page,
            sort,
            found.text,
            fell_back=parsed.fell_back,
            message=" ".join(messages) or None,
            window=window,
            window_exceeded=exceeded,
        )
        if facets:
            results.facets = facet_counts(values, found.base, found.facet_masks, filters)
        if snippets and hits and parsed.query is not None:
            add_snippets(self.snippeter, searcher, parsed.query, hits)
        if total < 3 and parsed.query is not None and found.text:
            allowed = self._permission_mask(user, values)
            results.corrected_query = spelling_correction(
                searcher, self.analyzer, found.text, allowed
            )
        return results

    def iter_bid_ids(
        self,
        user: Any,
        q: str = "",
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        chunk: int = 1000,
    ) -> Iterator[int]:
        """Every result in order (for exports), a chunk at a time."""
        first = self.search(
            user, q, filters, sort, 1, chunk, snippets=False, facets=False, windowed=False
        )
        yield from first.bid_ids
        for page in range(2, first.pages + 1):
            yield from self.search(
                user,
                q,
                filters,
                sort,
                page,
                chunk,
                snippets=False,
                facets=False,
                windowed=False,
            ).bid_ids

    def _page(
        self,
        searcher,
        query,
        sort,
        final,
        matched,
        values,
        start,
        per_page,
        title_words=(),
        scores=None,
    ) -> list[Hit]:
        if matched.size == 0 or start >= matched.size:
            return []
        stored_id = self._ids_of(searcher)
        if sort == "relevance":
            terms = _title_terms(searcher.schema, title_words)
            limit = max(start + per_page, RESCORE_WINDOW if terms else 0)
            if scores is not None:
                scored = _top(matched, scores, limit)
            else:
                results = searcher.search(query, filter=_MaskFilter(final), limit=limit)
                scored = [(hit.docnum, hit.score) for hit in results]
            if terms:
                scored = _rescore_titles(searcher.reader(), terms, scored, title_words, stored_id)
            return [
                Hit(int(stored_id(docnum)), score=score)
                for docnum, score in scored[start : start + per_page]
            ]
        key = values.numeric["published" if sort == "newest" else "amount"][matched]
        # Highest first, missing values last, ties by document order (stable).
        order = np.lexsort((matched, -key, key == MISSING))
        chosen = matched[order[start : start + per_page]]
        return [Hit(int(stored_id(int(docnum)))) for docnum in chosen]

    @staticmethod
    def _ids_of(searcher):
        return lambda docnum: searcher.stored_fields(docnum)["id"]


def _top(matched: np.ndarray, scores: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The `limit` best of the matched documents (ascending document numbers), highest score
    first and ties in document order, as Whoosh's collector ranks them."""
    if limit <= 0:
        return []
    ranked = scores[matched]
    if limit < matched.size:
        # Everything above the limit-th best score, then as many of those equal to it as fit.
        kth = np.partition(ranked, matched.size - limit)[matched.size - limit]
        above = ranked > kth
        equal = np.flatnonzero(ranked == kth)[: limit - int(above.sum())]
        keep = np.flatnonzero(above)
        keep = np.sort(np.concatenate([keep, equal]))
        matched, ranked = matched[keep], ranked[keep]
    order = np.lexsort((matched, -ranked))
    return [(int(d), float(s)) for d, s in zip(matched[order], ranked[order], strict=True)]


def _title_terms(schema, words) -> list[str]:
    """The title's indexed terms for these words (stemmed, stop words gone), in order."""
    if not words:
        return []
    return list(dict.fromkeys(schema["title"].process_text(" ".join(words), mode="query")))


def _rescore_titles(reader, terms: list[str], scored: list[tuple[int, float]], words, stored_id):
    """The title boost (search_index.ranking) over the first RESCORE_WINDOW results: each
    title's positions of the terms, read from the index, give its factor; whether a title
    begins with the words is read from the titles themselves (the database's)."""
    if any(("title", term) not in reader for term in terms):
        return scored  # no title holds every word
    matchers = [reader.postings("title", term) for term in terms]
    ordered: dict[int, bool] = {}
    for docnum in sorted(d for d, _ in scored[:RESCORE_WINDOW]):
        positions = []
        for matcher in matchers:
            if matcher.is_active():
                matcher.skip_to(docnum)
            if not matcher.is_active() or matcher.id() != docnum:
                break
            positions.append(list(matcher.value_as("positions")))
        else:
            ordered[docnum] = in_order(positions)
    bid_ids = {docnum: int(stored_id(docnum)) for docnum in ordered}
    titles = {
        bid_id: title
        for bid_id, title in db.session.execute(
            select(Bid.id, Bid.title).where(Bid.id.in_(list(bid_ids.values())))
        )
    }
    factors = {
        docnum: title_factor(True, in_order_, title_begins(titles.get(bid_ids[docnum], ""), words))
        for docnum, in_order_ in ordered.items()
    }
    return rescore(scored, factors)


def get_search_service() -> Any:
    """The app's search service (one per app, sharing its caches between requests): Whoosh's
    or PostgreSQL's, as `SEARCH_BACKEND` chose; both answer `search` and `iter_bid_ids` alike."""
    service = current_app.extensions.get("search_service")
    if service is None:  # init_app sets it; an index swapped in by hand gets Whoosh's
        service = current_app.extensions["search_service"] = SearchService(
            current_app.extensions["search_index"], SearchLimits.from_config(current_app.config)
        )
    return service
