"""The evaluation's arithmetic: ranks, lenient recall@1, MRR@10, ROC-AUC, the firms' halves."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.similarity_eval import Corpus, Ranked, figures, firm_half

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

# Five bids; bids 0 and 1 are labelled partners, as are 2 and 3. Bid 4 belongs to the same
# firm as bid 2 and outranks bid 3 for it.
SCORES = np.array(
    [
        [1.0, 0.9, 0.1, 0.1, 0.2],
        [0.9, 1.0, 0.1, 0.1, 0.1],
        [0.1, 0.1, 1.0, 0.5, 0.97],
        [0.1, 0.1, 0.5, 1.0, 0.1],
        [0.2, 0.1, 0.97, 0.1, 1.0],
    ]
)
PAIRS = [
    {"a": "b0", "b": "b1", "label": 1},
    {"a": "b2", "b": "b3", "label": 1},
    {"a": "b0", "b": "b3", "label": 0},
    {"a": "b1", "b": "b4", "label": 0},
]


def _ranked(depth: int) -> dict[int, Ranked]:
    out = {}
    for q, row in enumerate(SCORES):
        others = [p for p in np.argsort(-row, kind="stable") if p != q]
        out[q] = Ranked(np.array(others[:depth]), row.copy())
    return out


def test_figures_count_ranks_and_lenient_hits():
    corpus = Corpus(
        [f"b{i}" for i in range(5)],
        [""] * 5,
        np.array([10, 11, 12, 13, 12]),
        np.zeros(5, dtype=int),
        PAIRS,
    )
    positions = {f"b{i}": i for i in range(5)}
    for depth in (4, 1):  # the partner inside or beyond the re-ranked candidates
        fig = figures(_ranked(depth), corpus, positions, set(range(5)))
        # Ranks: 0->1: 1, 1->0: 1, 2->3: 2 (bid 4 of the same firm first), 3->2: 1.
        assert fig["recall@1"] == 0.75 and fig["recall@10"] == 1.0
        assert fig["lenient recall@1"] == 1.0
        assert fig["MRR@10"] == (1 + 1 + 0.5 + 1) / 4
        assert fig["ROC-AUC"] == 1.0 and fig["queries"] == 4


def test_lenient_recall_does_not_forgive_another_firm():
    firms = np.array([10, 11, 12, 13, 14])  # bid 4 now belongs to another firm
    corpus = Corpus([f"b{i}" for i in range(5)], [""] * 5, firms, np.zeros(5, dtype=int), PAIRS)
    fig = figures(_ranked(4), corpus, {f"b{i}": i for i in range(5)}, set(range(5)))
    assert fig["lenient recall@1"] == 0.75


def test_firm_halves_are_stable_and_ignore_case_and_spacing():
    assert firm_half("Acme  Photonics, Inc.") == firm_half("acme photonics, inc.")
    halves = {firm_half(f"Firm {i}") for i in range(20)}
    assert halves == {0, 1}


def _engine(scores: np.ndarray):
    from benchmarks.similarity_eval import EngineRun

    ranked = {
        q: Ranked(np.array([p for p in np.argsort(-row, kind="stable") if p != q]), row.copy())
        for q, row in enumerate(scores)
    }
    return EngineRun(ranked, {}, 0, [])


def test_fusion_adds_the_weighted_embedding_cosine():
    from benchmarks.similarity_eval import _fused

    # Unit vectors: bid 3 means what bid 2 means, bid 4 does not.
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
    fused = _fused(_engine(SCORES), vectors, [2], 0.5)
    assert fused[2].scores[3] == 0.5 + 0.5 and fused[2].scores[4] == 0.97
    assert fused[2].order[0] == 3  # the embedding lifts the partner over bid 4
    assert _fused(_engine(SCORES), vectors, [2], 0.01)[2].order[0] == 4


def test_reciprocal_rank_fusion_sums_inverse_ranks():
    from benchmarks.similarity_eval import RRF_K, _reciprocal_rank_fusion

    vectors = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8], [1, 0]], dtype=np.float32)
    fused = _reciprocal_rank_fusion(_engine(SCORES), vectors, [2])[2]
    # Bid 4 is first by words and last by meaning; bid 3 second by words, first by meaning.
    assert fused.scores[3] == 1 / (RRF_K + 2) + 1 / (RRF_K + 1)
    assert fused.scores[4] == 1 / (RRF_K + 1) + 1 / (RRF_K + 4)
    assert fused.order[0] == 3 and fused.scores[2] == 0.0
