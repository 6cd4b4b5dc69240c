"""Relation labels need evidence in proportion to the claim; the store refits its vocabulary
when bids added after the fit would outgrow it."""

from __future__ import annotations

import numpy as np
import pytest

from search_index import similarity
from search_index.similarity.matching import shared_words
from search_index.similarity.store import Doc, Store

# Two one-sentence grant descriptions sharing one phrase and little else.
SHORT_A = "Core costs for a youth club supporting young people with mental health needs."
SHORT_B = "Counselling sessions in schools for young people with mental health needs."
OTHERS = [
    "Repairs to the church roof and new heating for the village hall.",
    "A community orchard planted by volunteers on disused allotment land.",
    "Swimming lessons for disabled children at the leisure centre pool.",
    "Legal advice for tenants facing eviction from private landlords.",
]
IDENTICAL = (
    "Weekly lunch clubs, befriending calls and volunteer drivers for isolated older "
    "people living alone in remote rural villages across the northern valleys."
)


@pytest.mark.parametrize(
    ("score", "resemblance", "words", "relation"),
    [
        (0.45, 0.0, 5, "related"),
        (0.45, 0.0, 8, "strong"),
        (0.9, 0.0, 9, "strong"),
        (0.9, 0.0, 12, "near_duplicate"),
        (0.2, 0.6, 3, "related"),
        (0.2, 0.6, 30, "near_duplicate"),
        (0.05, 0.0, 3, None),
        (0.3, 0.0, None, "strong"),
    ],
)
def test_labels_depend_on_shared_words(score, resemblance, words, relation):
    assert similarity.relation_for(score, resemblance, words) == relation


def _snapshot(tmp_path, texts):
    store = Store(tmp_path, refit_below=0)
    with store.locked():
        return store.rebuild([Doc(i, i, True, t) for i, t in enumerate(texts)])


def test_one_shared_phrase_in_short_texts_is_related_not_strong(tmp_path):
    snap = _snapshot(tmp_path, [SHORT_A, SHORT_B, *OTHERS])
    a, b = snap.row_vector(0), snap.row_vector(1)
    score = float((a @ b.T).toarray()[0, 0])
    assert score >= similarity.STRONG  # the cosine alone would call this a strong overlap
    words = shared_words(snap, a, b)
    assert words < similarity.relations.STRONG_MIN_WORDS
    assert similarity.relation_for(score, 0.0, words) == "related"


def test_identical_short_texts_stay_near_duplicates(tmp_path):
    snap = _snapshot(tmp_path, [IDENTICAL, IDENTICAL, *OTHERS])
    a, b = snap.row_vector(0), snap.row_vector(1)
    assert similarity.relation_for(1.0, 1.0, shared_words(snap, a, b)) == "near_duplicate"


def test_overlap_pairs_label_short_texts_by_their_evidence(app, factory):
    orgs = [factory.org() for _ in range(3)]
    a = factory.bid(orgs[0], title="Youth club", summary="", body=SHORT_A)
    b = factory.bid(orgs[1], title="Schools", summary="", body=SHORT_B)
    for text in OTHERS:
        factory.bid(orgs[2], title="Other", summary="", body=text)
    relations = {(p.a, p.b): p.relation for p in similarity.overlap_pairs()}
    assert relations.get((min(a.id, b.id), max(a.id, b.id))) in (None, "related")


def test_store_refits_when_unfitted_bids_would_outgrow_the_vocabulary(tmp_path):
    store = Store(tmp_path, refit_below=0, growth_factor=2.0)
    docs = [Doc(i, i, True, t) for i, t in enumerate(OTHERS)]
    with store.locked():
        built = store.rebuild(docs).key[0]
        added = [Doc(10, 10, True, SHORT_A), Doc(11, 11, True, SHORT_B)]
        docs += added
        snap = store.change(added, [], all_docs=lambda: docs)
        assert snap.key[0] == built and "counselling" not in snap.vectoriser.terms
        assert snap.unfitted_share() == pytest.approx(2 / 6)
        added = [
            Doc(12, 12, True, IDENTICAL),
            Doc(13, 13, True, IDENTICAL + " Too."),
            Doc(14, 14, True, SHORT_A + " " + SHORT_B),
        ]
        docs += added
        snap = store.change(added, [], all_docs=lambda: docs)
    assert snap.key[0] != built  # 5 bids outside a vocabulary fitted on 4: more than doubled
    assert "counselling" in snap.vectoriser.terms and len(snap.delta) == 0
    rows, alive = snap.all_rows()
    assert sorted(rows["bid_id"][alive].tolist()) == [0, 1, 2, 3, 10, 11, 12, 13, 14]


def test_growth_factor_is_configurable(tmp_path):
    store = Store(tmp_path, refit_below=0, growth_factor=1.25)
    with store.locked():
        docs = [Doc(i, i, True, t) for i, t in enumerate(OTHERS)]
        built = store.rebuild(docs).key[0]
        added = [Doc(10, 10, True, SHORT_A), Doc(11, 11, True, SHORT_B)]
        snap = store.change(added, [], all_docs=lambda: docs + added)
    assert snap.key[0] != built and np.all(snap.base_alive)


def test_a_bulk_sync_ends_with_a_refit(app, factory, monkeypatch):
    from search_index import outbox
    from search_index.similarity import sync

    monkeypatch.setattr(sync, "BULK_BATCH", 3)
    store = similarity.get_store()
    store.refit_below, store.growth_factor = 0, 100.0  # the growth rule alone would never refit
    org = factory.org()
    for text in OTHERS:
        factory.bid(org, title="Other", summary="", body=text)
    similarity.rebuild()
    built = store.manifest()["base"]
    with outbox.deferred():
        for text in (SHORT_A, SHORT_B, IDENTICAL):
            factory.bid(org, title="New", summary="", body=text)
    outbox.sync("similar")
    snap = store.snapshot()
    assert snap.key[0] != built and len(snap.delta) == 0
    assert "counselling" in snap.vectoriser.terms
