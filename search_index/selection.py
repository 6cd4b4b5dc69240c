"""Which public bids a search matches, as a set of ids (for insights and the network map).

Same query language and filters as the search page, over the search service's own
masks, but without ranking or pages: every match at once. Only public bids count
(figures and maps are public, whoever asks), so no drafts leak into aggregates.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np

from search_index.filters import SearchFilters as Filters
from search_index.service import get_search_service

_lock = threading.Lock()
_ids_cache: dict[int, tuple[tuple, np.ndarray]] = {}


def narrows(q: str, filters: Filters) -> bool:
    """Whether the query or a filter restricts the set (else: every public bid)."""
    return bool(
        (q or "").strip()
        or filters.active()
        or filters.min_amount is not None
        or filters.max_amount is not None
        or filters.organisation_ids is not None
        or filters.bid_ids is not None
    )


def _segment_id(leaf) -> str | None:
    """A segment reader's id; None for the empty reader of an index with no documents yet."""
    segment = getattr(leaf, "_segment", None)
    return segment.segment_id() if segment is not None else None


def _docnum_ids(service, searcher) -> np.ndarray:
    """Bid id of each document number of this searcher (cached per index generation)."""
    reader = searcher.reader()
    key = tuple((_segment_id(seg), offset) for seg, offset in reader.leaf_readers())
    with _lock:
        cached = _ids_cache.get(id(service))
        if cached is not None and cached[0] == key:
            return cached[1]
    ids = np.full(reader.doc_count_all(), -1, dtype=np.int64)
    for docnum, fields in reader.iter_docs():
        ids[docnum] = int(fields["id"])
    with _lock:
        _ids_cache[id(service)] = (key, ids)
    return ids


def matching_bid_ids(q: str = "", filters: Filters | None = None) -> set[int] | None:
    """The public bids matching the search; None when nothing narrows it (all public bids).

    Raises nothing on odd input: the query parser falls back to plain words, as on /search.
    """
    filters = filters or Filters()
    if not narrows(q, filters):
        return None
    ids, _ = matching_bids(q, filters)
    return ids


def _tags_from_rows(ids: set[int]) -> dict[str, Counter]:
    """How many of these bids name each theme and place, read from the bids' own lists."""
    from sqlalchemy import select

    from bids.database import db
    from bids.models import Bid

    tags: dict[str, Counter] = {"themes": Counter(), "locations": Counter()}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        for themes, locations in db.session.execute(
            select(Bid.themes, Bid.locations).where(Bid.id.in_(chunk))
        ):
            tags["themes"].update(themes or [])
            tags["locations"].update(locations or [])
    return tags


def matching_bids(
    q: str = "", filters: Filters | None = None
) -> tuple[set[int], dict[str, Counter]]:
    """The public bids matching the search, and how many of them name each theme and place
    (counted over the index's value arrays, not by decoding every bid's JSON lists)."""
    filters = filters or Filters()
    service = get_search_service()
    if not hasattr(service, "docvalues"):  # the PostgreSQL engine: no value arrays to count over
        found = set(service.iter_bid_ids(None, q, filters, chunk=5000))
        return found, _tags_from_rows(found)
    # The search page's own matching (exact-value clauses as filters, wildcards capped),
    # for an anonymous reader: the figures count what the results page lists.
    found = service.match(None, q, filters, scored=False)
    values, mask = found.values, found.final
    ids = _docnum_ids(service, found.searcher)[np.flatnonzero(mask)]
    tags = {}
    for name, key in (("theme", "themes"), ("location", "locations")):
        docs, codes = values.multi[name]
        chosen = codes[mask[docs]] if docs.size else codes
        vocab = values.vocab[name].values
        counts = np.bincount(chosen, minlength=len(vocab)) if chosen.size else np.zeros(0, int)
        tags[key] = Counter({vocab[c]: int(counts[c]) for c in np.flatnonzero(counts)})
    return {int(i) for i in ids if i >= 0}, tags
