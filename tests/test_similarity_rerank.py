"""The re-ranker: features from the store alone, a shipped model that loads, copies first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search_index.similarity import rerank
from search_index.similarity.rerank import FEATURES, Reranker, pair_features
from search_index.similarity.store import Doc, Store

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

TEXTS = [
    "Laser welding of titanium airframe panels with closed loop thermal monitoring in 2019.",
    "Laser welding of titanium airframe panels with closed loop thermal monitoring.",
    "Thermal monitoring of battery packs for electric buses using fibre optic sensors.",
    "Autonomous underwater vehicles mapping coral reefs with sonar and cameras.",
    "A low cost water purifier for rural clinics based on ceramic filters and silver.",
]


def _features(tmp_path):
    store = Store(tmp_path, refit_below=0)
    with store.locked():
        snap = store.rebuild([Doc(i, i, True, t) for i, t in enumerate(TEXTS)])
    matrix = snap.matrix()
    q, candidates = matrix[0], matrix[1:]
    cosine = (candidates @ q.T).toarray().ravel()
    columns = snap.vectoriser.column_stats
    return pair_features(q, candidates, cosine, np.zeros(len(cosine)), columns), cosine


def test_features_describe_the_pairs(tmp_path):
    features, cosine = _features(tmp_path)
    assert features.shape == (4, len(FEATURES))
    column = dict(zip(FEATURES, features.T, strict=True))
    assert np.allclose(column["cosine"], cosine)
    assert column["gap_to_best"].max() == 0.0
    # the query has a year; its near copy lost it, and no other text has digits
    assert column["digits_mismatch"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert np.all((column["shared_rare_query"] >= 0) & (column["shared_rare_query"] <= 1))
    assert column["shared_rare_query"][0] >= column["shared_rare_query"][2]


def test_near_copies_stay_first_whatever_the_model_says():
    model = Reranker(
        np.array([-1.0] + [0.0] * (len(FEATURES) - 1)),
        0.0,
        np.zeros(len(FEATURES)),
        np.ones(len(FEATURES)),
    )
    features = np.zeros((3, len(FEATURES)))
    features[:, 0] = [0.9, 0.5, 0.2]  # a model that prefers low cosine
    order = model.order(features, np.array([0.95, 0.0, 0.0]))
    assert order[0] == 0 and list(order[1:]) == [2, 1]


def test_model_round_trips_and_the_shipped_one_loads():
    model = Reranker(
        np.arange(len(FEATURES), dtype=float),
        0.5,
        np.ones(len(FEATURES)),
        np.full(len(FEATURES), 2.0),
    )
    again = Reranker.from_json(model.to_json())
    features = np.random.default_rng(1).random((5, len(FEATURES)))
    assert np.allclose(again.score(features), model.score(features))
    shipped = Reranker.from_json(json.loads(rerank.MODEL_PATH.read_text()))
    assert shipped.coef.shape == (len(FEATURES),)
