"""Relation labels of a scored pair: thresholds read off the SBIR pairs (docs/similarity.md)."""

from __future__ import annotations

import numpy as np

NEAR_DUPLICATE = 0.5
NEAR_DUPLICATE_SCORE = 0.8
STRONG = 0.3
RELATED = 0.1

RELATION_LABELS = {
    "near_duplicate": "near-duplicate text",
    "strong": "strong overlap",
    "related": "related",
}


def relation_for(score: float, resemblance: float) -> str | None:
    if resemblance >= NEAR_DUPLICATE or score >= NEAR_DUPLICATE_SCORE:
        return "near_duplicate"
    if score >= STRONG:
        return "strong"
    if score >= RELATED:
        return "related"
    return None


def relations_of(scores: np.ndarray, resemblance: np.ndarray) -> np.ndarray:
    """`relation_for` over arrays ("" where below RELATED)."""
    return np.select(
        [(resemblance >= NEAR_DUPLICATE) | (scores >= NEAR_DUPLICATE_SCORE), scores >= STRONG,
         scores >= RELATED],
        ["near_duplicate", "strong", "related"], default="")
