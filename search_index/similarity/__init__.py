"""Overlapping bids: which bids say much the same thing (issue 4).

Method (chosen by measurement, see `benchmarks/similarity_bench.py`): cosine of TF-IDF
vectors (word unigrams and bigrams, sublinear tf, English stop words) for the score, and
MinHash over 5-word passages for "near-duplicate text". The vectors and signatures live
under `SIMILARITY_DIR` (`store.py`); the database stays the source of truth and the
"similar" outbox rows keep the store current within a commit.

For views and the API:

    similar_to_bid(user, bid, limit=10) -> list[Match]      # never the bid itself
    similar_to_text(user, text, limit=10) -> list[Match]    # the draft check; nothing stored
    compare_texts(text_a, text_b) -> Comparison              # shared passages, for <mark>

Every result is a bid `user` may see (`bids.access`): a draft is matched only for members of
its own organisation, hidden bids only for admins.

For the funders' pool clustering (published, non-hidden bids only):

    overlap_pairs(min_score) -> Iterator[OverlapPair]   # (a, b, score, relation, shared_terms), a < b
    pairs_for(bid_id, min_score=...) -> list[OverlapPair]

`overlap_pairs` keeps each bid's top `NEIGHBOURS` neighbours, computed in chunks over the
whole corpus and cached on disk (`neighbours-*.npz`) until the store next changes.

What was measured (41,999 SBIR abstracts, 940 positive pairs, 1,880 ranked queries; recall@1 /
recall@10 / MRR; `make eval` for the first and last rows, the others offline):

    plain TF-IDF baseline of issue 4 (uni+bigrams, sublinear, stop words)  0.739 / 0.852 / 0.783
    + min_df=2, max_df=0.5 (kept: a quarter of the terms, same figures)    0.737 / 0.853 / 0.782
    digits blanked (a third of the pairs mix digit-stripped abstracts)     0.738 / 0.852 / 0.783
    idf squared; binary tf                                                 0.732 / 0.852 / 0.777; 0.730 / 0.848 / 0.775
    hubness correction (CSLS, k = 1..10)                                   at best 0.740 / 0.849 / 0.783
    pseudo-relevance feedback (Rocchio, k = 3..10)                         at best 0.737 / 0.852 / 0.781
    LSA (256 dims) alone; fused with TF-IDF                                0.678 / 0.780 / 0.715; at best 0.737 / 0.853 / 0.780
    MiniLM sentence embeddings (all-MiniLM-L6-v2, 256 tokens) alone        0.718 / 0.835 / 0.761
    TF-IDF + 0.4 x MiniLM cosine                                           0.747 / 0.854 / 0.790

Embeddings buy one point of recall@1 for PyTorch and 24 minutes of encoding on 2 cores:
not kept. The figures are bounded by the labels, not by the method: for 8% of the queries
the partner ranks beyond 1,000 by words and beyond the top 10 by meaning (the abstracts
describe different work, or one is a data error); re-ranking the union of the best 100 by
words and by meaning perfectly would reach recall@10 0.897 at most, and the best 1,000
0.927. Of the 217 queries whose partner ranks 2nd to 10th, three in four have another
award of the same firm first (a project renamed between phases is an unlabelled overlap;
in 26 the first scores >= 0.95). `make eval` prints these ceilings beside the figures.

Relation labels (`relation_for`), thresholds read off the SBIR pairs (abstracts only; TF-IDF
cosine of positive pairs: median 0.85, 25th percentile 0.16; same-firm different-title
negatives: 90th percentile 0.13; other-firm negatives: 99th percentile 0.08):
- "near-duplicate text": at least half of the two texts' 5-word passages are shared
  (resemblance >= NEAR_DUPLICATE), or the score is >= NEAR_DUPLICATE_SCORE (0.8);
- "strong overlap": score >= STRONG (0.30: 97% of labelled pairs above it are real overlaps);
- "related": score >= RELATED (0.10: precision 0.84, recall 0.82; 99% of unrelated
  other-firm pairs fall below it).
Matches under RELATED are not shown.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import Flask, current_app
from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from bids.access import real_user, can_view
from bids.database import db, utcnow
from bids.markdown_render import markdown_to_text
from bids.models import Bid, IndexOutbox
from search_index.similarity.store import Doc, Snapshot, Store
from search_index.similarity.text import (
    estimated_resemblance,
    markdown_words,
    passage_overlap,
    shared_spans,
    shingle_hashes,
    signature,
)

log = logging.getLogger(__name__)

NEAR_DUPLICATE = 0.5
NEAR_DUPLICATE_SCORE = 0.8
STRONG = 0.3
RELATED = 0.1
NEIGHBOURS = 20
CANDIDATES = 100
QUERY_TERMS = 40
SHARED_TERMS = 8
MIN_WORDS = 20
MAX_CHARS = 200_000

RELATION_LABELS = {
    "near_duplicate": "near-duplicate text",
    "strong": "strong overlap",
    "related": "related",
}


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


@dataclass
class Match:
    bid: Bid
    score: float
    relation: str
    shared_terms: list[str]
    resemblance: float = 0.0
    passages_shared: float | None = None  # share of the query's passages also in this bid

    @property
    def relation_label(self) -> str:
        return RELATION_LABELS[self.relation]


@dataclass
class Comparison:
    left: Markup
    right: Markup
    resemblance: float
    share_left: float
    share_right: float
    shared_terms: list[str] = field(default_factory=list)


def relation_for(score: float, resemblance: float) -> str | None:
    if resemblance >= NEAR_DUPLICATE or score >= NEAR_DUPLICATE_SCORE:
        return "near_duplicate"
    if score >= STRONG:
        return "strong"
    if score >= RELATED:
        return "related"
    return None


# --- the store and the outbox ----------------------------------------------------------------

def init_app(app: Flask) -> None:
    from search_index.outbox import register_consumer

    app.extensions["similarity"] = Store(app.config["SIMILARITY_DIR"])
    register_consumer("similar", apply_changes, after_commit=True)


def get_store() -> Store:
    return current_app.extensions["similarity"]


def document_text(bid: Bid, body_text=markdown_words) -> str:
    """What the matcher reads of a bid: title, summary, body and attachments' text.

    `body_text` turns the Markdown body into text: the matcher's fast `markdown_words` by
    default; the comparison page passes `markdown_to_text` (`readable_text`).
    """
    parts = [bid.title, bid.summary, body_text(bid.body or "")]
    parts.extend(a.text for a in bid.attachments if a.text)
    return "\n\n".join(p for p in parts if p)[:MAX_CHARS]


def readable_text(bid: Bid) -> str:
    """What the comparison page shows of a bid: `document_text` with the Markdown rendered to
    plain text. The words are the same, so are the shared passages; `##` and `**` are gone."""
    return document_text(bid, markdown_to_text)


def _doc(bid: Bid) -> Doc:
    return Doc(bid.id, bid.organisation_id, bid.is_public, document_text(bid))


def _load_docs(session: Session, bid_ids: list[int] | None = None, progress=None) -> list[Doc]:
    """Docs of the given bids (all bids when None), read in chunks; `progress(n)` after each bid."""
    query = select(Bid).options(selectinload(Bid.attachments)).order_by(Bid.id)
    chunks = ([query] if bid_ids is None
              else [query.where(Bid.id.in_(bid_ids[i:i + 500])) for i in range(0, len(bid_ids), 500)])
    docs = []
    for chunk in chunks:
        for bid in session.scalars(chunk.execution_options(yield_per=1000)):
            docs.append(_doc(bid))
            if progress is not None:
                progress(1)
    return docs


def apply_changes(session: Session, upserts: list[int], deletes: list[int]) -> None:
    """Outbox consumer for target "similar": bring the changed bids into the store."""
    store = get_store()
    with store.locked():
        docs = _load_docs(session, upserts) if upserts else []
        gone = set(upserts) - {d.bid_id for d in docs}  # deleted since the row was written
        store.change(docs, sorted(set(deletes) | gone), all_docs=lambda: _load_docs(session))


def rebuild(progress=None) -> int:
    """Refit the vocabulary and rebuild every vector from the database; returns bids stored.

    Pending "similar" outbox rows written before the rebuild began are covered by it and
    deleted (committed here: a rebuild is a maintenance unit of work of its own).
    """
    store = get_store()
    started = utcnow()
    db.session.commit()
    with store.locked():
        docs = _load_docs(db.session, progress=progress)
        store.rebuild(docs)
    db.session.execute(delete(IndexOutbox).where(
        IndexOutbox.target == "similar", IndexOutbox.created_at < started))
    db.session.commit()
    return len(docs)


def _snapshot() -> Snapshot | None:
    store = get_store()
    snap = store.snapshot()
    if snap is None:  # first use: build from the database (small sites, tests)
        rebuild()
        snap = store.snapshot()
    return snap


# --- matching ----------------------------------------------------------------------------------

def _allowed_rows(rows: np.ndarray, user: Any) -> np.ndarray:
    user = real_user(user)
    if user is not None and user.is_admin:
        return np.ones(len(rows), dtype=bool)
    allowed = rows["public"].copy()
    if user is not None:
        orgs = list(user.organisation_ids())
        if orgs:
            allowed |= np.isin(rows["org_id"], orgs)
    return allowed


def shared_terms(snap: Snapshot, q, other, limit: int = SHARED_TERMS) -> list[str]:
    """The distinctive terms two texts share: largest products of their TF-IDF weights."""
    common, qi, oi = np.intersect1d(q.indices, other.indices, assume_unique=True, return_indices=True)
    if common.size == 0:
        return []
    weights = q.data[qi] * np.asarray(other.data)[oi]
    order = np.argsort(-weights, kind="stable")
    chosen: list[str] = []
    for position in order:
        term = snap.vectoriser.terms[common[position]]
        # A bigram already says what its words say: skip words covered by a chosen bigram.
        if any(term in c.split() or c in term.split() for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == limit:
            break
    return chosen


def scores_for(snap: Snapshot, q, sig: np.ndarray, lift: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(score, passage resemblance) of a query against every row of the store.

    The score is the TF-IDF cosine, lifted to the passages' resemblance where more passages
    are shared than the words' weights say, so the same text always ranks first. Shared
    passages mean shared words, so only the `lift` best rows by cosine are compared.
    """
    base, delta = snap.lexical_scores(q)
    scores = np.concatenate([base, delta])
    resemblance = np.zeros(len(scores), dtype=np.float32)
    if len(scores):
        top = np.argpartition(-scores, min(lift, len(scores)) - 1)[:lift]
        top = np.sort(top[scores[top] > 0])  # sorted: sequential reads of the mapped signatures
        resemblance[top] = estimated_resemblance(sig, np.asarray(snap.signatures()[top]))
    return np.maximum(scores, resemblance), resemblance


def _rank(snap: Snapshot, user: Any, q, sig: np.ndarray, *, exclude: int | None,
          query_text: str | None, limit: int) -> list[Match]:
    rows, alive = snap.all_rows()
    scores, resemblance = scores_for(snap, q, sig)
    mask = alive & _allowed_rows(rows, user) & (scores >= RELATED)
    if exclude is not None:
        mask &= rows["bid_id"] != exclude
    candidates = np.flatnonzero(mask)
    want = min(len(candidates), limit * 2 + 10)
    if want == 0:
        return []
    top = candidates[np.argpartition(-scores[candidates], want - 1)[:want]]
    top = top[np.lexsort((rows["bid_id"][top], -scores[top]))]
    bids = {b.id: b for b in db.session.scalars(
        select(Bid).where(Bid.id.in_([int(rows["bid_id"][p]) for p in top]))
        .options(selectinload(Bid.organisation), selectinload(Bid.funder), selectinload(Bid.attachments))
    )}
    matches: list[Match] = []
    for position in top:
        bid = bids.get(int(rows["bid_id"][position]))
        if bid is None or not can_view(user, bid):  # the database has the last word
            continue
        score = float(min(1.0, max(0.0, scores[position])))
        relation = relation_for(score, float(resemblance[position]))
        if relation is None:
            continue
        match = Match(bid, round(score, 4), relation,
                      shared_terms(snap, q, snap.row_vector(int(position))),
                      resemblance=round(float(resemblance[position]), 4))
        if relation == "near_duplicate" and query_text is not None:
            match.resemblance, match.passages_shared = (
                round(v, 4) for v in passage_overlap(query_text, document_text(bid)))
        matches.append(match)
        if len(matches) == limit:
            break
    return matches


def similar_to_bid(user: Any, bid: Bid, limit: int = 10) -> list[Match]:
    """Bids overlapping `bid` that `user` may see, best first, never `bid` itself."""
    snap = _snapshot()
    if snap is None:
        return []
    text = document_text(bid)
    position = snap.position_of(bid.id)
    if position is not None:
        q, sig = snap.row_vector(position), snap.row_signature(position)
    else:  # not applied yet (outbox pending): read it now
        q, sig = snap.vectoriser.transform([text]), signature(text)
    return _rank(snap, user, q, sig, exclude=bid.id, query_text=text, limit=limit)


def similar_to_text(user: Any, text: str, title: str = "", limit: int = 10) -> list[Match]:
    """Bids overlapping a pasted or uploaded text (the draft check); nothing is stored."""
    snap = _snapshot()
    if snap is None:
        return []
    full = "\n\n".join(p for p in (title, text) if p)[:MAX_CHARS]
    q = snap.vectoriser.transform([full])
    return _rank(snap, user, q, signature(full), exclude=None, query_text=full, limit=limit)


def check_text_length(text: str) -> str | None:
    """Why a text cannot be checked, or None when it can."""
    if len(text) > MAX_CHARS:
        return f"The text is longer than {MAX_CHARS:,} characters; check a shorter extract."
    if len(text.split()) < MIN_WORDS:
        return f"Give at least {MIN_WORDS} words so the comparison means something."
    return None


def lineage_candidates(bid: Bid, matches: list[Match]) -> list[Match]:
    """Near-duplicates of `bid` from its own organisation: candidates for "resubmission of"."""
    linked = {link.to_bid_id for link in bid.links} | {link.from_bid_id for link in bid.backlinks}
    return [m for m in matches if m.relation == "near_duplicate"
            and m.bid.organisation_id == bid.organisation_id and m.bid.id not in linked]


# --- comparing -----------------------------------------------------------------------------------

def _highlight(text: str, spans: list[tuple[int, int]]) -> Markup:
    """Escape the text, wrapping shared passages in <mark>."""
    out, last = [], 0
    for start, end in spans:
        out.append(html.escape(text[last:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        last = end
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def compare_texts(text_a: str, text_b: str) -> Comparison:
    hashes_a, hashes_b = shingle_hashes(text_a), shingle_hashes(text_b)
    resemblance, share_a = passage_overlap(text_a, text_b)
    _, share_b = passage_overlap(text_b, text_a)
    terms: list[str] = []
    snap = get_store().snapshot()
    if snap is not None:
        qa, qb = snap.vectoriser.transform([text_a, text_b])
        terms = shared_terms(snap, qa, qb)
    return Comparison(
        left=_highlight(text_a, shared_spans(text_a, hashes_b.tolist())),
        right=_highlight(text_b, shared_spans(text_b, hashes_a.tolist())),
        resemblance=resemblance, share_left=share_a, share_right=share_b, shared_terms=terms,
    )


# --- corpus-wide pairs, for clustering -------------------------------------------------------------

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
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)),
                         shape=matrix.shape)


def _neighbours(snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top NEIGHBOURS (row, row, score) among public bids, cached on disk per store state.

    Candidates come from each bid's QUERY_TERMS heaviest terms against the whole matrix
    (an order of magnitude cheaper than the full product); the best CANDIDATES are then
    scored exactly. Measured at 42k: every top-20 pair scoring >= 0.3 is found, ~97% of
    those >= 0.1.
    """
    store = get_store()
    tag = hashlib.sha1(repr(snap.key).encode()).hexdigest()[:16]
    path = store.dir / f"neighbours-{tag}.npz"
    if path.exists():
        with np.load(path) as f:
            return f["a"], f["b"], f["score"]
    positions = _public_positions(snap)
    matrix = snap.matrix()[positions]
    sigs = np.asarray(snap.signatures())[positions]
    transposed = matrix.T.tocsr()
    n = len(positions)
    k = min(NEIGHBOURS, max(n - 1, 0))
    pool = min(CANDIDATES, max(n - 1, 0))
    out_a, out_b, out_s = [], [], []
    for start in range(0, n if k else 0, 500):
        block = matrix[start:start + 500]
        rows = np.arange(start, start + block.shape[0])
        approx = (_top_terms(block, QUERY_TERMS) @ transposed).toarray()
        approx[np.arange(len(rows)), rows] = -1.0
        cands = np.argpartition(-approx, pool - 1, axis=1)[:, :pool]
        left, right = np.repeat(rows, pool), cands.ravel()
        exact = np.asarray(matrix[left].multiply(matrix[right]).sum(axis=1)).ravel()
        same = (sigs[left] == sigs[right]) & (sigs[left] != np.iinfo(np.uint32).max)
        scores = np.maximum(exact, same.mean(axis=1)).reshape(len(rows), pool)
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        chosen = np.take_along_axis(scores, best, axis=1)
        keep = chosen > 0
        out_a.append(np.repeat(rows, k)[keep.ravel()])
        out_b.append(np.take_along_axis(cands, best, axis=1)[keep])
        out_s.append(chosen[keep])
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


def _relations(scores: np.ndarray, resemblance: np.ndarray) -> np.ndarray:
    """`relation_for` over arrays ("" where below RELATED)."""
    return np.select(
        [(resemblance >= NEAR_DUPLICATE) | (scores >= NEAR_DUPLICATE_SCORE), scores >= STRONG,
         scores >= RELATED],
        ["near_duplicate", "strong", "related"], default="")


def _pairs(snap: Snapshot, pa: np.ndarray, pb: np.ndarray, scores: np.ndarray) -> Iterator[OverlapPair]:
    rows, _ = snap.all_rows()
    sigs = snap.signatures()
    for start in range(0, len(pa), 50_000):
        a, b, s = pa[start:start + 50_000], pb[start:start + 50_000], scores[start:start + 50_000]
        left, right = np.asarray(sigs[a]), np.asarray(sigs[b])
        resemblance = ((left == right) & (left != np.iinfo(np.uint32).max)).mean(axis=1)
        relations = _relations(s, resemblance)
        ids_a, ids_b = rows["bid_id"][a], rows["bid_id"][b]
        for i in np.flatnonzero(relations != ""):
            x, y, px, py = int(ids_a[i]), int(ids_b[i]), int(a[i]), int(b[i])
            if x > y:
                x, y, px, py = y, x, py, px
            yield OverlapPair(x, y, round(float(min(1.0, s[i])), 4), str(relations[i]),
                              source=(snap, px, py))


def overlap_pairs(min_score: float = RELATED) -> Iterator[OverlapPair]:
    """Every pair of published, non-hidden bids scoring >= min_score among each one's top neighbours."""
    snap = _snapshot()
    if snap is None:
        return
    a, b, s = _neighbours(snap)
    keep = s >= min_score
    a, b, s = a[keep], b[keep], s[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo.astype(np.int64) * (int(hi.max(initial=0)) + 1) + hi, return_index=True)
    first.sort()
    yield from _pairs(snap, lo[first], hi[first], s[first])


def pairs_for(bid_id: int, min_score: float = RELATED, limit: int = NEIGHBOURS) -> list[OverlapPair]:
    """One published bid's overlaps with other published bids (for a neighbourhood refresh)."""
    snap = _snapshot()
    if snap is None:
        return []
    position = snap.position_of(bid_id)
    if position is None:
        return []
    rows, alive = snap.all_rows()
    if not rows["public"][position]:
        return []
    scores, _ = scores_for(snap, snap.row_vector(position), snap.row_signature(position))
    scores[~(alive & rows["public"])] = -1.0
    scores[position] = -1.0
    k = min(limit, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]  # a full sort of 42k scores cost a third of the call
    order = top[np.lexsort((top, -scores[top]))]  # best first, ties by position
    order = order[scores[order] >= min_score]
    return list(_pairs(snap, np.full(len(order), position), order, scores[order]))
