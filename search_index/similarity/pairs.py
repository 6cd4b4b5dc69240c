"""Corpus-wide overlapping pairs of published bids, for the funders' pool clustering.

`overlap_pairs` keeps each bid's top `NEIGHBOURS` neighbours, computed in chunks over the
whole corpus and cached on disk (`neighbours-*.npz`) until the store next changes.
`pairs_for` gives one bid's pairs for a neighbourhood refresh; `pairs_for_many` the same for
many bids at once (the members of the clusters a change touches).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np

from search_index.similarity.matching import (
    scores_for,
    scores_for_rows,
    shared_terms,
    shared_words,
)
from search_index.similarity.relations import RELATED, relations_of
from search_index.similarity.store import Snapshot
from search_index.similarity.sync import current_snapshot, get_store

NEIGHBOURS = 20
CANDIDATES = 100
QUERY_TERMS = 40
CANDIDATE_SHARE = 0.02  # a term more than 2% of bids hold finds no candidates...
MIN_CANDIDATE_DF = 100  # ...unless it is in at most 100 (small sites)
CHUNK_ROWS = 500
CHUNK_POSTINGS = 4_000_000


class OverlapPair:
    """One scored pair of bids (a < b). Unpacks as `(a, b, score, relation, shared_terms)`;
    the shared terms are worked out on first use (clustering 42k bids rarely needs them)."""

    __slots__ = ("a", "b", "score", "relation", "_terms", "_source")

    def __init__(self, a: int, b: int, score: float, relation: str, shared_terms=None, source=None):
        self.a, self.b, self.score, self.relation = a, b, score, relation
        self._terms, self._source = shared_terms, source

    @property
    def shared_terms(self) -> list[str]:
        if self._terms is None:
            snap, pa, pb = self._source
            self._terms = shared_terms(snap, snap.row_vector(pa), snap.row_vector(pb))
        return self._terms

    def __iter__(self):
        return iter((self.a, self.b, self.score, self.relation, self.shared_terms))

    def __getitem__(self, index):
        if isinstance(index, int) and -1 < index < 4:
            return (self.a, self.b, self.score, self.relation)[index]
        return tuple(self)[index]

    def __repr__(self) -> str:
        return f"OverlapPair({self.a}, {self.b}, {self.score}, {self.relation!r})"


def _public_positions(snap: Snapshot) -> np.ndarray:
    rows, alive = snap.all_rows()
    return np.flatnonzero(alive & rows["public"])


def _top_terms(matrix, keep: int):
    """Each row reduced to its `keep` heaviest terms (the rare, distinctive ones)."""
    import scipy.sparse as sp

    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    data, indices, indptr = [], [], [0]
    for i in range(matrix.shape[0]):
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        values, columns = np.asarray(matrix.data[lo:hi]), np.asarray(matrix.indices[lo:hi])
        if hi - lo > keep:
            top = np.argpartition(-values, keep - 1)[:keep]
            values, columns = values[top], columns[top]
        data.append(values)
        indices.append(columns)
        indptr.append(indptr[-1] + len(values))
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=matrix.shape
    )


def _candidate_query(matrix, df: np.ndarray):
    """Each row reduced to its QUERY_TERMS heaviest terms among those no more than
    CANDIDATE_SHARE of the bids hold: a word most bids use finds candidates by the thousand
    and rarely the right ones."""
    cap = max(MIN_CANDIDATE_DF, int(CANDIDATE_SHARE * matrix.shape[0]))
    query = matrix.copy()
    query.data[df[query.indices] > cap] = 0
    query.eliminate_zeros()
    return _top_terms(query, QUERY_TERMS)


def _chunks(query, df: np.ndarray) -> Iterator[tuple[int, int]]:
    """Row ranges of at most CHUNK_ROWS rows whose query terms' postings add up to about
    CHUNK_POSTINGS (the size of one chunk's candidate product)."""
    n = query.shape[0]
    cost = np.zeros(n, dtype=np.int64)
    filled = np.diff(query.indptr) > 0
    if query.nnz:
        cost[filled] = np.add.reduceat(df[query.indices], query.indptr[:-1][filled])
    total = np.cumsum(cost)
    lo = 0
    while lo < n:
        spent = total[lo - 1] if lo else 0
        hi = int(np.searchsorted(total, spent + CHUNK_POSTINGS, side="right"))
        hi = min(n, lo + CHUNK_ROWS, max(hi, lo + 1))
        yield lo, hi
        lo = hi


def _top_of_rows(indptr: np.ndarray, values: np.ndarray, keep: int) -> np.ndarray:
    """Positions in `values` of each CSR row's `keep` largest values, rows in order."""
    counts = np.diff(indptr)
    out = np.empty(int(np.minimum(counts, keep).sum()), dtype=np.int64)
    at = 0
    for i in np.flatnonzero(counts):
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        if hi - lo <= keep:
            out[at : at + hi - lo] = np.arange(lo, hi)
            at += hi - lo
        else:
            out[at : at + keep] = lo + np.argpartition(-values[lo:hi], keep - 1)[:keep]
            at += keep
    return out


def _neighbours(snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top NEIGHBOURS (row, row, score) among public bids, cached on disk per store state.

    Candidates come from each bid's QUERY_TERMS heaviest terms (`_candidate_query`), through
    the posting lists of those terms only, as a sparse product: the cost follows the postings
    read, not the square of the corpus (a dense block against every bid took about an hour
    at 420k). The best CANDIDATES by that partial score are then scored exactly. Measured at
    42k against the exact top 20 of every bid: 99.97% of the pairs scoring >= 0.3 are found,
    99.5% of those >= 0.2, 96% of those >= 0.1 (docs/similarity.md).
    """
    store = get_store()
    tag = hashlib.sha1(repr(snap.key).encode()).hexdigest()[:16]
    path = store.dir / f"neighbours-{tag}.npz"
    if path.exists():
        with np.load(path) as f:
            return f["a"], f["b"], f["score"]
    positions = _public_positions(snap)
    matrix = snap.matrix()[positions].tocsr()
    sigs = np.asarray(snap.signatures())[positions]
    transposed = matrix.T.tocsr()
    df = np.diff(transposed.indptr)
    n = len(positions)
    k = min(NEIGHBOURS, max(n - 1, 0))
    pool = min(CANDIDATES, max(n - 1, 0))
    query = _candidate_query(matrix, df)
    out_a, out_b, out_s = [], [], []
    for lo, hi in _chunks(query, df) if k else ():
        approx = (query[lo:hi] @ transposed).tocsr()
        row_of = np.repeat(np.arange(hi - lo), np.diff(approx.indptr))
        approx.data[approx.indices == row_of + lo] = 0  # not a bid's own neighbour
        approx.eliminate_zeros()
        picked = _top_of_rows(approx.indptr, approx.data, pool)
        counts = np.minimum(np.diff(approx.indptr), pool)
        left = np.repeat(np.arange(lo, hi), counts)
        right = approx.indices[picked].astype(np.int64)
        exact = np.asarray(matrix[left].multiply(matrix[right]).sum(axis=1)).ravel()
        same = (sigs[left] == sigs[right]) & (sigs[left] != np.iinfo(np.uint32).max)
        scores = np.maximum(exact, same.mean(axis=1))
        best = _top_of_rows(np.concatenate([[0], np.cumsum(counts)]), scores, k)
        best = best[scores[best] > 0]
        out_a.append(left[best])
        out_b.append(right[best])
        out_s.append(scores[best])
    a = positions[np.concatenate(out_a)] if out_a else np.zeros(0, dtype=np.int64)
    b = positions[np.concatenate(out_b)] if out_b else np.zeros(0, dtype=np.int64)
    s = np.concatenate(out_s).astype(np.float32) if out_s else np.zeros(0, dtype=np.float32)
    for old in store.dir.glob("neighbours-*.npz"):
        old.unlink(missing_ok=True)
    tmp = store.dir / f".{path.name}"
    with open(tmp, "wb") as handle:
        np.savez(handle, a=a, b=b, score=s)
    tmp.replace(path)
    return a, b, s


def _shared_words(snap: Snapshot, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct content words shared by each pair of rows (a[i], b[i])."""
    if len(a) <= 200:  # one bid's neighbourhood: row slices, no copy of the mapped matrix
        return np.array(
            [
                shared_words(snap, snap.row_vector(int(x)), snap.row_vector(int(y)))
                for x, y in zip(a, b, strict=True)
            ],
            dtype=np.int64,
        )
    matrix = snap.matrix()
    product = matrix[a].multiply(matrix[b]).tocsr()
    product.data = snap.vectoriser.word_columns[product.indices].astype(np.float32)
    return np.asarray(product.sum(axis=1)).ravel().astype(np.int64)


def _pairs(
    snap: Snapshot, pa: np.ndarray, pb: np.ndarray, scores: np.ndarray
) -> Iterator[OverlapPair]:
    rows, _ = snap.all_rows()
    sigs = snap.signatures()
    for start in range(0, len(pa), 50_000):
        a, b, s = (
            pa[start : start + 50_000],
            pb[start : start + 50_000],
            scores[start : start + 50_000],
        )
        left, right = np.asarray(sigs[a]), np.asarray(sigs[b])
        resemblance = ((left == right) & (left != np.iinfo(np.uint32).max)).mean(axis=1)
        relations = relations_of(s, resemblance, _shared_words(snap, a, b))
        ids_a, ids_b = rows["bid_id"][a], rows["bid_id"][b]
        for i in np.flatnonzero(relations != ""):
            x, y, px, py = int(ids_a[i]), int(ids_b[i]), int(a[i]), int(b[i])
            if x > y:
                x, y, px, py = y, x, py, px
            yield OverlapPair(
                x, y, round(float(min(1.0, s[i])), 4), str(relations[i]), source=(snap, px, py)
            )


def overlap_pairs(min_score: float = RELATED) -> Iterator[OverlapPair]:
    """Every pair of published, non-hidden bids scoring >= min_score among each one's top
    neighbours."""
    snap = current_snapshot()
    if snap is None:
        return
    snap = snap.whole()
    a, b, s = _neighbours(snap)
    keep = s >= min_score
    a, b, s = a[keep], b[keep], s[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo.astype(np.int64) * (int(hi.max(initial=0)) + 1) + hi, return_index=True)
    first.sort()
    yield from _pairs(snap, lo[first], hi[first], s[first])


def pairs_for(
    bid_id: int, min_score: float = RELATED, limit: int = NEIGHBOURS
) -> list[OverlapPair]:
    """One published bid's overlaps with other published bids (for a neighbourhood refresh)."""
    snap = current_snapshot()
    if snap is None:
        return []
    snap = snap.neighbourhood(bid_id)
    position = snap.position_of(bid_id)
    if position is None:
        return []
    rows, _ = snap.all_rows()
    if not rows["public"][position]:
        return []
    scores, _ = scores_for(snap, snap.row_vector(position), snap.row_signature(position))
    return _top_pairs(snap, position, scores, min_score, limit)


def pairs_for_many(
    bid_ids: Iterable[int], min_score: float = RELATED, limit: int = NEIGHBOURS
) -> dict[int, list[OverlapPair]]:
    """`pairs_for` of each bid (the same pairs, in the same order), computed together: the
    file store scores a block of rows with one sparse product, the database store finds every
    bid's candidates in one query and reads their rows once. For the members of the clusters a
    change touches, who are each other's neighbours."""
    found: dict[int, list[OverlapPair]] = {int(i): [] for i in bid_ids}
    snap = current_snapshot()
    if snap is None or not found:
        return found
    for view, members in snap.neighbourhoods(sorted(found)):
        rows, _ = view.all_rows()
        positions = [(b, view.position_of(b)) for b in members]
        asked = [(b, p) for b, p in positions if p is not None and rows["public"][p]]
        ranked = scores_for_rows(view, [p for _, p in asked])
        for (bid_id, position), (scores, _) in zip(asked, ranked, strict=True):
            found[bid_id] = _top_pairs(view, position, scores, min_score, limit)
    return found


def _top_pairs(
    snap: Snapshot, position: int, scores: np.ndarray, min_score: float, limit: int
) -> list[OverlapPair]:
    """The row at `position`'s best `limit` pairs with other public rows, from its scores."""
    rows, alive = snap.all_rows()
    scores[~(alive & rows["public"])] = -1.0
    scores[position] = -1.0
    k = min(limit, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]  # a full sort of 42k scores cost a third of the call
    order = top[np.lexsort((top, -scores[top]))]  # best first, ties by position
    order = order[scores[order] >= min_score]
    return list(_pairs(snap, np.full(len(order), position), order, scores[order]))
