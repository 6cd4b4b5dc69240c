"""Corpus-wide overlapping pairs of published bids, for the funders' pool clustering.

`overlap_pairs` keeps each bid's top `NEIGHBOURS` neighbours, computed in chunks over the
whole corpus and cached on disk (`neighbours-*.npz`) until the store next changes.
`pairs_for` gives one bid's pairs for a neighbourhood refresh; `pairs_for_many` the same for
many bids at once (the members of the clusters a change touches).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np

from search_index.similarity.matching import scores_for_rows, shared_terms, shared_words
from search_index.similarity.relations import RELATED, relations_of
from search_index.similarity.store import Snapshot
from search_index.similarity.sync import current_snapshot, get_store
from search_index.similarity.text import estimated_resemblance

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
            self._terms = shared_terms(snap, snap.row_terms(pa), snap.row_terms(pb))
        return self._terms

    def settle(self) -> None:
        """Work out the shared terms now and let go of the view they were read from."""
        self.shared_terms  # noqa: B018 - computed and kept
        self._source = None

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
                shared_words(snap, snap.row_terms(int(x)), snap.row_terms(int(y)))
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
    return pairs_for_many([bid_id], min_score=min_score, limit=limit)[int(bid_id)]


def pairs_for_many(
    bid_ids: Iterable[int], min_score: float = RELATED, limit: int = NEIGHBOURS
) -> dict[int, list[OverlapPair]]:
    """`pairs_for` of each bid (the same pairs, in the same order), computed together: the
    file store scores a block of rows with one sparse product, the database store finds every
    bid's candidates in one query and reads their rows once. For the members of the clusters a
    change touches, who are each other's neighbours.

    Each bid's pairs are kept in the process (`_PairMemo`) and brought up to date with the
    bids changed since, instead of being found again among every row: a neighbourhood refresh
    asks for every member of a cluster after each change of one of them."""
    found: dict[int, list[OverlapPair]] = {int(i): [] for i in bid_ids}
    snap = current_snapshot()
    if snap is None or not found:
        return found
    memo = _memo_of(get_store())
    with memo.lock:
        memo.observe(snap)
        ask, stale = [], {}
        for bid_id in found:
            kept = memo.get((bid_id, min_score, limit))
            changed = None if kept is None else memo.changed_after(kept.seen)
            if kept is None or changed is None or bid_id in changed:
                ask.append(bid_id)
            elif not changed:
                found[bid_id] = kept.pairs()
            elif kept.full and any(partner in changed for _, partner, _ in kept.ranked):
                ask.append(bid_id)  # a lost neighbour may have hidden the next best
            else:
                stale[bid_id] = changed
        answers = {
            **_brought_up_to_date(snap, memo, stale, min_score, limit),
            **_ranked(snap, ask, min_score, limit),
        }
        for bid_id, ranked in answers.items():
            kept = _Kept(memo.seen, ranked, len(ranked) == limit)
            memo.put((bid_id, min_score, limit), kept)
            found[bid_id] = kept.pairs()
    return found


# One process keeps the pairs of this many bids between changes of the store, and remembers
# this many changes (pairs older than that are found again).
MEMO_BIDS = 5_000
MEMO_CHANGES = 1_000

Ranked = list[tuple[float, int, "OverlapPair | None"]]  # (score, partner, pair), best first


class _Kept:
    """One bid's best `limit` rows scoring >= min_score, as (score, partner, pair or None
    below RELATED), right as of the memo's `seen`-th change; `full` when `limit` of them
    were found (a row beyond may then move up)."""

    __slots__ = ("seen", "ranked", "full")

    def __init__(self, seen: int, ranked: Ranked, full: bool):
        self.seen, self.ranked, self.full = seen, ranked, full
        for _, _, pair in ranked:  # their own terms: a kept pair holds no view of the store
            if pair is not None:
                pair.settle()

    def pairs(self) -> list[OverlapPair]:
        return [pair for _, _, pair in self.ranked if pair is not None]


class _PairMemo:
    """Bids' pairs kept across changes of the store, in one process. Until the next refit a
    change moves only the changed bids' rows, so every other pair keeps its score: asking
    again scores the kept bids against the changed rows alone. Refits forget everything."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snap: Snapshot | None = None
        self.forgotten = 0  # changes no longer remembered
        self.changes: list[set[int]] = []  # the bids each change seen since then touched
        self.kept: OrderedDict[tuple[int, float, int], _Kept] = OrderedDict()

    @property
    def seen(self) -> int:
        return self.forgotten + len(self.changes)

    def observe(self, snap: Snapshot) -> None:
        """Note what changed between the last view asked about and `snap`."""
        if self.snap is not None and self.snap.key == snap.key:
            return
        changed = None if self.snap is None else snap.changed_since(self.snap)
        self.snap = snap
        if changed is None:  # another generation (or the first view): nothing kept holds
            self.kept.clear()
            self.forgotten, self.changes = self.seen, []
        elif changed:
            self.changes.append(changed)
            if len(self.changes) > MEMO_CHANGES:
                drop = len(self.changes) - MEMO_CHANGES // 2
                self.forgotten += drop
                del self.changes[:drop]

    def changed_after(self, seen: int) -> set[int] | None:
        """The bids changed since the `seen`-th change (None: forgotten)."""
        if seen < self.forgotten:
            return None
        return set().union(*self.changes[seen - self.forgotten :])

    def get(self, key: tuple[int, float, int]) -> _Kept | None:
        kept = self.kept.get(key)
        if kept is not None:
            self.kept.move_to_end(key)
        return kept

    def put(self, key: tuple[int, float, int], kept: _Kept) -> None:
        self.kept[key] = kept
        self.kept.move_to_end(key)
        while len(self.kept) > MEMO_BIDS:
            self.kept.popitem(last=False)


_memos: weakref.WeakKeyDictionary[object, _PairMemo] = weakref.WeakKeyDictionary()
_memos_lock = threading.Lock()


def _memo_of(store: object) -> _PairMemo:
    with _memos_lock:
        memo = _memos.get(store)
        if memo is None:
            memo = _memos[store] = _PairMemo()
        return memo


def _ranked(snap: Snapshot, bid_ids: list[int], min_score: float, limit: int) -> dict[int, Ranked]:
    """Each bid's best rows, scored against every row it is ranked over."""
    out: dict[int, Ranked] = {}
    if not bid_ids:
        return out
    views = (
        [(snap.neighbourhood(bid_ids[0]), bid_ids)]
        if len(bid_ids) == 1
        else snap.neighbourhoods(sorted(bid_ids))
    )
    for view, members in views:
        rows, _ = view.all_rows()
        positions = [(b, view.position_of(b)) for b in members]
        asked = [(b, p) for b, p in positions if p is not None and rows["public"][p]]
        out.update((b, []) for b, p in positions if (b, p) not in asked)
        ranked = scores_for_rows(view, [p for _, p in asked])
        for (bid_id, position), (scores, _) in zip(asked, ranked, strict=True):
            out[bid_id] = _top_ranked(view, position, scores, min_score, limit)
    return out


def _brought_up_to_date(
    snap: Snapshot, memo: _PairMemo, stale: dict[int, set[int]], min_score: float, limit: int
) -> dict[int, Ranked]:
    """Kept bids' rows ranked again with the rows of the bids changed since: those pairs
    dropped, the changed bids' live public rows scored against each kept bid and merged in."""
    out: dict[int, Ranked] = {}
    if not stale:
        return out
    changed = sorted(set().union(*stale.values()))
    view, at = snap.rows_view(sorted(stale.keys() | set(changed)))
    rows, _ = view.all_rows()
    live = [c for c in changed if c in at and rows["public"][at[c]]]
    asked = [b for b in stale if b in at]
    scores = view.lexical_scores_between(
        view.rows_of([at[b] for b in asked]), [at[c] for c in live]
    )
    sigs = view.signatures()
    for i, bid_id in enumerate(asked):
        kept = memo.kept[(bid_id, min_score, limit)]
        ranked = [entry for entry in kept.ranked if entry[1] not in stale[bid_id]]
        others = [j for j, c in enumerate(live) if c in stale[bid_id] and c != bid_id]
        cosine = scores[i, others]
        lifted = cosine.copy()
        near = np.flatnonzero(cosine > 0)  # as `_lifted`: passages compared where words are
        if near.size:
            sig = np.asarray(view.row_signature(at[bid_id]))
            rows_near = np.asarray(sigs[[at[live[others[j]]] for j in near]])
            resemblance = estimated_resemblance(sig, rows_near).astype(np.float32)
            lifted[near] = np.maximum(cosine[near], resemblance)
        keep = np.flatnonzero(lifted >= min_score)
        if keep.size:
            partners = [live[others[j]] for j in keep]
            made = {
                p.a if p.b == bid_id else p.b: p
                for p in _pairs(
                    view,
                    np.full(keep.size, at[bid_id]),
                    np.array([at[c] for c in partners]),
                    lifted[keep],
                )
            }
            ranked += [
                (float(s), c, made.get(c))
                for s, c in zip(lifted[keep].tolist(), partners, strict=True)
            ]
        ranked.sort(key=lambda entry: (-entry[0], entry[1]))
        out[bid_id] = ranked[:limit]
    out.update((b, []) for b in stale if b not in at)
    return out


def _top_ranked(
    snap: Snapshot, position: int, scores: np.ndarray, min_score: float, limit: int
) -> Ranked:
    """The row at `position`'s best `limit` other public rows scoring >= min_score, from its
    scores (ties by bid id), with their pairs."""
    rows, alive = snap.all_rows()
    scores[~(alive & rows["public"])] = -1.0
    scores[position] = -1.0
    k = min(limit, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]  # a full sort of 42k scores cost a third of the call
    order = top[np.lexsort((rows["bid_id"][top], -scores[top]))]  # best first, ties by bid id
    order = order[scores[order] >= min_score]
    own = int(rows["bid_id"][position])
    made = {
        p.a if p.b == own else p.b: p
        for p in _pairs(snap, np.full(len(order), position), order, scores[order])
    }
    partners = rows["bid_id"][order].tolist()
    return [
        (float(s), int(b), made.get(int(b)))
        for s, b in zip(scores[order].tolist(), partners, strict=True)
    ]
