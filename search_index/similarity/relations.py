"""Relation labels of a scored pair: thresholds read off the SBIR pairs (docs/similarity.md).

A label is a claim about how much two texts share, so it needs evidence in proportion:
"strong overlap" needs at least `STRONG_MIN_WORDS` distinct content words in common and
"near-duplicate text" at least `NEAR_DUPLICATE_MIN_WORDS`. Two one-sentence grant
descriptions sharing one phrase ("for young people with mental health needs") can score
0.4 by cosine on five words; they are "related" at most.
"""

from __future__ import annotations

import numpy as np

NEAR_DUPLICATE = 0.5
NEAR_DUPLICATE_SCORE = 0.8
STRONG = 0.3
RELATED = 0.1
STRONG_MIN_WORDS = 8
NEAR_DUPLICATE_MIN_WORDS = 12

RELATION_LABELS = {
    "near_duplicate": "near-duplicate text",
    "strong": "strong overlap",
    "related": "related",
}


def relation_for(score: float, resemblance: float, shared_words: int | None = None) -> str | None:
    """The label of a pair; `shared_words` is how many distinct content words the two texts
    share (None: not counted, as long texts always have enough)."""
    return (
        str(
            relations_of(
                np.array([score]),
                np.array([resemblance]),
                None if shared_words is None else np.array([shared_words]),
            )[0]
        )
        or None
    )


def relations_of(
    scores: np.ndarray, resemblance: np.ndarray, shared_words: np.ndarray | None = None
) -> np.ndarray:
    """`relation_for` over arrays ("" where below RELATED)."""
    words = np.full(len(scores), np.iinfo(np.int64).max) if shared_words is None else shared_words
    near = (resemblance >= NEAR_DUPLICATE) | (scores >= NEAR_DUPLICATE_SCORE)
    return np.select(
        [
            near & (words >= NEAR_DUPLICATE_MIN_WORDS),
            (near | (scores >= STRONG)) & (words >= STRONG_MIN_WORDS),
            (near | (scores >= RELATED)),
        ],
        ["near_duplicate", "strong", "related"],
        default="",
    )
