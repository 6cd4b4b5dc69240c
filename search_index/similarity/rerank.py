"""Re-ranking the best candidates by cosine with a small linear model over pair features.

The cosine alone over-rewards a candidate that shares one heavy term and under-rewards a
partner whose abstract lost its digits or grew between phases. `pair_features` describes
each (query, candidate) pair from what the store already holds; `Reranker` orders the best
`RERANK_DEPTH` candidates by a logistic model's score. Its coefficients are a small JSON
file shipped in the package (`reranker.json`, written by `benchmarks/similarity_eval.py`
from the SBIR pairs); nothing at runtime needs the labels. The displayed score and relation
stay the cosine's: the model only changes the order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

RERANK_DEPTH = 100
# Off in the product: at 41,999 abstracts, cross-fitted, the model was level with the cosine
# (recall@1 -0.003 on one half, +0.003 on the other; recall@10 and lenient recall@1 level or
# lower, ROC-AUC lower), so it is not kept. `make eval` keeps measuring it (docs/similarity.md).
ENABLED = False
MODEL_PATH = Path(__file__).with_name("reranker.json")
FEATURES = (
    "cosine",
    "gap_to_best",
    "log_rank",
    "resemblance",
    "shared_rare_query",
    "shared_rare_candidate",
    "length_ratio",
    "digits_mismatch",
    "cosine_if_digits_mismatch",
    "cosine_z",
)
_DIGIT = re.compile(r"\d")


def digit_terms(terms: list[str]) -> np.ndarray:
    """Boolean per vocabulary column: the term contains a digit (a text without any such
    term probably lost its digits in the source feed, which deflates its cosine)."""
    return np.fromiter((bool(_DIGIT.search(t)) for t in terms), dtype=bool, count=len(terms))


@dataclass
class ColumnStats:
    """Per vocabulary column, what the features read: computed once per vocabulary."""

    rare_idf: np.ndarray  # the idf of terms rarer than the median term, else 0
    digit: np.ndarray  # 1.0 where the term holds a digit

    @classmethod
    def of(cls, terms: list[str], idf: np.ndarray) -> ColumnStats:
        idf = np.asarray(idf, dtype=np.float64)
        rare = idf >= np.median(idf) if idf.size else np.zeros(0, dtype=bool)
        return cls(np.where(rare, idf, 0.0), digit_terms(terms).astype(np.float64))


def pair_features(
    q: sp.csr_matrix,
    candidates: sp.csr_matrix,
    cosine: np.ndarray,
    resemblance: np.ndarray,
    columns: ColumnStats,
) -> np.ndarray:
    """Features of one query row against its candidate rows (in cosine order, best first).

    `cosine` and `resemblance` are the candidates' scores. Returns an (n, len(FEATURES)) array.
    """
    n = candidates.shape[0]
    out = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return out
    cosine = np.asarray(cosine, dtype=np.float64)
    binary = sp.csr_matrix(
        (np.ones(candidates.nnz), candidates.indices, candidates.indptr), shape=candidates.shape
    )
    q_cols = q.indices
    zeros = np.zeros(len(q_cols), dtype=np.int64)
    q_rare = sp.csr_matrix((columns.rare_idf[q_cols], (q_cols, zeros)), shape=(q.shape[1], 1))
    shared = np.asarray((binary @ q_rare).todense()).ravel()
    cand_rare = binary @ columns.rare_idf
    q_mass = float(columns.rare_idf[q_cols].sum()) or 1.0
    lengths = np.maximum(np.diff(candidates.indptr), 1)
    q_length = max(q.nnz, 1)
    q_digits = bool(columns.digit[q_cols].any()) if q.nnz else False
    c_digits = (binary @ columns.digit) > 0
    mismatch = (c_digits != q_digits).astype(np.float64)
    spread = float(cosine.std()) or 1.0
    out[:, 0] = cosine
    out[:, 1] = cosine - cosine.max()
    out[:, 2] = np.log1p(np.arange(n))
    out[:, 3] = resemblance
    out[:, 4] = shared / q_mass
    out[:, 5] = shared / np.maximum(cand_rare, 1.0)
    out[:, 6] = np.abs(np.log(lengths / q_length))
    out[:, 7] = mismatch
    out[:, 8] = cosine * mismatch
    out[:, 9] = (cosine - cosine.mean()) / spread
    return out


@dataclass
class Reranker:
    """A logistic model over standardised `pair_features`."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def score(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def order(self, features: np.ndarray, resemblance: np.ndarray) -> np.ndarray:
        """Candidate indices best first. Texts sharing most of their passages stay first
        (the same text must always rank first), by resemblance; the rest by the model."""
        score = self.score(features)
        near_copy = np.asarray(resemblance) >= 0.8
        return np.lexsort((np.arange(len(score)), -score, -np.where(near_copy, resemblance, 0.0)))

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Reranker:
        if list(data["features"]) != list(FEATURES):
            raise ValueError("reranker.json was trained on other features")
        return cls(
            np.array(data["coef"]),
            float(data["intercept"]),
            np.array(data["mean"]),
            np.array(data["scale"]),
        )

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, c: float = 1.0) -> Reranker:
        from sklearn.linear_model import LogisticRegression

        mean, scale = features.mean(axis=0), features.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        model.fit((features - mean) / scale, labels)
        return cls(model.coef_[0], float(model.intercept_[0]), mean, scale)


_shipped: Reranker | None = None


def shipped() -> Reranker | None:
    """The model shipped with the package, or None when it is absent or not `ENABLED`."""
    global _shipped
    if not ENABLED:
        return None
    if _shipped is None and MODEL_PATH.exists():
        _shipped = Reranker.from_json(json.loads(MODEL_PATH.read_text()))
    return _shipped
