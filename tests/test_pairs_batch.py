"""`pairs_for_many` gives exactly `pairs_for` of each bid (scores, order, relations, shared terms),
on the file store and on the database store, for bids fitted and added since, drafts, hidden and
unknown bids, ties, and more rows than one product scores at once."""

from __future__ import annotations

import pytest

from bids.publishing import hide_bid
from search_index import similarity
from search_index.similarity import db_store, matching, pairs
from tests.test_similarity import DIGITAL, FOOD, LONELY, SPORT

TEXTS = [LONELY, FOOD, DIGITAL, SPORT]


@pytest.fixture(params=["files", "database"])
def app_config(request):
    return {"SIMILARITY_BACKEND": request.param}


def _everything(pairs):
    return [(p.a, p.b, p.score, p.relation, p.shared_terms) for p in pairs]


def test_pairs_for_many_gives_each_bids_pairs_for(app, db, factory, monkeypatch):
    orgs = [factory.org(f"Org {n}") for n in range(5)]
    bids = []
    for n in range(10):  # texts sharing passages in varying measure
        text = " ".join(TEXTS[(n + k) % 4] for k in range(1 + n % 3))
        bids.append(factory.bid(orgs[n % 5], title=f"Project {n % 7}", body=text))
    for n in range(5):  # ties, broken by bid id past each bid's few candidates
        bids.append(factory.bid(orgs[n], title="Copy", body=LONELY + " " + DIGITAL))
    similarity.rebuild()
    similarity.get_store().refit_below = 0  # the next bids join the store unfitted
    for n in range(4):
        bids.append(factory.bid(orgs[n], title="Later", body=TEXTS[n] + " " + TEXTS[(n + 2) % 4]))
    draft = factory.bid(orgs[0], title="Draft", body=LONELY, published=False)
    hidden = factory.bid(orgs[1], title="Hidden", body=LONELY + " " + FOOD)
    hide_bid(factory.user(admin=True), hidden, "Moderation test")
    db.session.commit()
    assert similarity.get_store().snapshot().unfitted_rows() > 0
    monkeypatch.setattr(matching, "ROWS_AT_ONCE", 3)  # several products
    monkeypatch.setattr(db_store, "CANDIDATE_ROWS", 4)  # each bid's own few candidates
    monkeypatch.setattr(db_store, "QUERY_TERMS", 6)  # found by its heaviest terms
    ids = [b.id for b in bids] + [draft.id, hidden.id, 10_000]

    for min_score, limit in [(0.125, 20), (0.0, 3)]:
        pairs._memos.clear()  # found afresh each time, not kept from the last ask
        many = similarity.pairs_for_many(ids, min_score=min_score, limit=limit)
        assert sorted(many) == sorted(ids)
        for bid_id in ids:
            pairs._memos.clear()
            one = similarity.pairs_for(bid_id, min_score=min_score, limit=limit)
            assert _everything(many[bid_id]) == _everything(one), bid_id
        assert many[draft.id] == many[hidden.id] == many[10_000] == []
        assert sum(len(found) for found in many.values()) > len(bids)
    assert similarity.pairs_for_many([]) == {}
