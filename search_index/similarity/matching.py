"""Similar bids for a bid or a pasted text (the draft check), as the user may see them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bids.access import can_view, real_user
from bids.database import db
from bids.models import Bid
from search_index.similarity.relations import RELATED, RELATION_LABELS, relation_for
from search_index.similarity.rerank import RERANK_DEPTH, pair_features, shipped
from search_index.similarity.store import Snapshot
from search_index.similarity.sync import MAX_CHARS, current_snapshot, document_text
from search_index.similarity.text import estimated_resemblance, passage_overlap, signature

SHARED_TERMS = 8
MIN_WORDS = 20
# Rows scored by one product in `scores_for_rows`: 64 x 42k float32 scores are 10 MiB.
ROWS_AT_ONCE = 64


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


def shared_words(snap: Snapshot, q, other) -> int:
    """How many distinct content words (vocabulary unigrams) two TF-IDF rows share."""
    common = np.intersect1d(q.indices, other.indices, assume_unique=True)
    return int(snap.vectoriser.word_columns[common].sum())


def shared_terms(snap: Snapshot, q, other, limit: int = SHARED_TERMS) -> list[str]:
    """The distinctive terms two texts share: largest products of their TF-IDF weights."""
    common, qi, oi = np.intersect1d(
        q.indices, other.indices, assume_unique=True, return_indices=True
    )
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


def scores_for(
    snap: Snapshot, q, sig: np.ndarray, lift: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """(score, passage resemblance) of a query against every row of the store.

    The score is the TF-IDF cosine, lifted to the passages' resemblance where more passages
    are shared than the words' weights say, so the same text always ranks first. Shared
    passages mean shared words, so only the `lift` best rows by cosine are compared.
    """
    base, delta = snap.lexical_scores(q)
    return _lifted(snap, np.concatenate([base, delta]), sig, lift)


def scores_for_rows(
    snap: Snapshot, positions: list[int], lift: int = 300
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`scores_for` of the stored rows at `positions`, in order: the cosines of `ROWS_AT_ONCE`
    rows at a time from one sparse product (`Snapshot.lexical_scores_many`), the same numbers."""
    for start in range(0, len(positions), ROWS_AT_ONCE):
        chunk = positions[start : start + ROWS_AT_ONCE]
        lexical = snap.lexical_scores_many(snap.rows_of(chunk))
        for position, scores in zip(chunk, lexical, strict=True):
            yield _lifted(snap, scores, snap.row_signature(position), lift)


def _lifted(
    snap: Snapshot, scores: np.ndarray, sig: np.ndarray, lift: int
) -> tuple[np.ndarray, np.ndarray]:
    resemblance = np.zeros(len(scores), dtype=np.float32)
    if len(scores):
        top = np.argpartition(-scores, min(lift, len(scores)) - 1)[:lift]
        top = np.sort(top[scores[top] > 0])  # sorted: sequential reads of the mapped signatures
        resemblance[top] = estimated_resemblance(sig, np.asarray(snap.signatures()[top]))
    return np.maximum(scores, resemblance), resemblance


def rerank(
    snap: Snapshot, q, top: np.ndarray, scores: np.ndarray, resemblance: np.ndarray
) -> np.ndarray:
    """`top` (positions in cosine order) re-ordered by the shipped re-ranker."""
    model = shipped()
    if model is None or len(top) < 2:
        return top
    candidates = sp.vstack([snap.row_vector(int(p)) for p in top], format="csr")
    features = pair_features(
        q, candidates, scores[top], resemblance[top], snap.vectoriser.column_stats
    )
    return top[model.order(features, resemblance[top])]


def _rank(
    snap: Snapshot,
    user: Any,
    q,
    sig: np.ndarray,
    *,
    exclude: int | None,
    query_text: str | None,
    limit: int,
) -> list[Match]:
    rows, alive = snap.all_rows()
    scores, resemblance = scores_for(snap, q, sig)
    mask = alive & _allowed_rows(rows, user) & (scores >= RELATED)
    if exclude is not None:
        mask &= rows["bid_id"] != exclude
    candidates = np.flatnonzero(mask)
    depth = min(len(candidates), max(RERANK_DEPTH, limit * 2 + 10))
    if depth == 0:
        return []
    top = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
    top = top[np.lexsort((rows["bid_id"][top], -scores[top]))]
    top = rerank(snap, q, top, scores, resemblance)[: limit * 2 + 10]
    bids = {
        b.id: b
        for b in db.session.scalars(
            select(Bid)
            .where(Bid.id.in_([int(rows["bid_id"][p]) for p in top]))
            .options(
                selectinload(Bid.organisation),
                selectinload(Bid.funder),
                selectinload(Bid.attachments),
            )
        )
    }
    matches: list[Match] = []
    for position in top:
        bid = bids.get(int(rows["bid_id"][position]))
        if bid is None or not can_view(user, bid):  # the database has the last word
            continue
        score = float(min(1.0, max(0.0, scores[position])))
        row = snap.row_vector(int(position))
        relation = relation_for(score, float(resemblance[position]), shared_words(snap, q, row))
        if relation is None:
            continue
        match = Match(
            bid,
            round(score, 4),
            relation,
            shared_terms(snap, q, row),
            resemblance=round(float(resemblance[position]), 4),
        )
        if relation == "near_duplicate" and query_text is not None:
            match.resemblance, match.passages_shared = (
                round(v, 4) for v in passage_overlap(query_text, document_text(bid))
            )
        matches.append(match)
        if len(matches) == limit:
            break
    return matches


def similar_to_bid(user: Any, bid: Bid, limit: int = 10) -> list[Match]:
    """Bids overlapping `bid` that `user` may see, best first, never `bid` itself."""
    snap = current_snapshot()
    if snap is None:
        return []
    text = document_text(bid)
    position = snap.position_of(bid.id)
    if position is not None:
        q, sig = snap.row_vector(position), snap.row_signature(position)
    else:  # not applied yet (outbox pending): read it now
        q, sig = snap.vectoriser.transform([text]), signature(text)
    snap = snap.candidates(q, user, exclude=bid.id)
    return _rank(snap, user, q, sig, exclude=bid.id, query_text=text, limit=limit)


def similar_to_text(user: Any, text: str, title: str = "", limit: int = 10) -> list[Match]:
    """Bids overlapping a pasted or uploaded text (the draft check); nothing is stored."""
    snap = current_snapshot()
    if snap is None:
        return []
    full = "\n\n".join(p for p in (title, text) if p)[:MAX_CHARS]
    q = snap.vectoriser.transform([full])
    snap = snap.candidates(q, user)
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
    return [
        m
        for m in matches
        if m.relation == "near_duplicate"
        and m.bid.organisation_id == bid.organisation_id
        and m.bid.id not in linked
    ]
