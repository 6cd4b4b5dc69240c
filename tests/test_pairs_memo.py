"""The pairs a process keeps (`pairs._PairMemo`): brought up to date with the bids changed since,
they are the pairs found afresh (scores, order, relations, shared terms), on the file store and
on the database store; and only the changed bids are scored against every row."""

from __future__ import annotations

import pytest

from bids.publishing import hide_bid, update_bid
from search_index import similarity
from search_index.similarity import matching, pairs
from tests.test_similarity import DIGITAL, FOOD, LONELY, SPORT

TEXTS = [LONELY, FOOD, DIGITAL, SPORT]


@pytest.fixture(params=["files", "database"])
def app_config(request):
    return {"SIMILARITY_BACKEND": request.param}


def _everything(found):
    return {
        bid_id: [(p.a, p.b, p.score, p.relation, p.shared_terms) for p in kept]
        for bid_id, kept in found.items()
    }


def _afresh(ids, **asked):
    pairs._memos.clear()  # nothing kept: every bid's pairs found among every row
    return _everything(similarity.pairs_for_many(ids, **asked))


def _corpus(factory, size=12):
    orgs = [factory.org(f"Org {n}") for n in range(4)]
    bids = []
    for n in range(size):  # texts sharing passages in varying measure
        text = " ".join(TEXTS[(n + k) % 4] for k in range(1 + n % 3))
        bids.append(factory.bid(orgs[n % 4], title=f"Project {n % 5}", body=text))
    similarity.rebuild()
    similarity.get_store().refit_below = 0  # changes go to the store without a refit
    return orgs, bids


def _scored_rows(monkeypatch) -> list[int]:
    """How many rows each call scores against every row it is ranked over."""
    counted: list[int] = []
    original = matching.scores_for_rows

    def counting(view, positions, *args, **kwargs):
        counted.append(len(positions))
        return original(view, positions, *args, **kwargs)

    monkeypatch.setattr(pairs, "scores_for_rows", counting)
    return counted


@pytest.mark.parametrize(("min_score", "limit"), [(0.125, 20), (0.0, 3)])
def test_kept_pairs_brought_up_to_date_are_the_pairs_found_afresh(
    app, db, factory, min_score, limit
):
    orgs, bids = _corpus(factory)
    admin = factory.user(admin=True)
    ids = [b.id for b in bids]
    similarity.pairs_for_many(ids, min_score=min_score, limit=limit)  # kept

    # One change at a time, asked after each, then several between two asks.
    update_bid(None, bids[0], {"body": SPORT + " " + FOOD}, check_membership=False)
    db.session.commit()
    asked = {"min_score": min_score, "limit": limit}
    assert _everything(similarity.pairs_for_many(ids, **asked)) == _afresh(ids, **asked)
    similarity.pairs_for_many(ids, **asked)  # kept again, from scratch this time

    newcomer = factory.bid(orgs[1], title="Newcomer", body=LONELY + " " + DIGITAL)
    hide_bid(admin, bids[3], "Moderation test")
    draft = factory.bid(orgs[2], title="Draft", body=LONELY + " " + FOOD, published=False)
    hide_bid(admin, bids[5], "Moderation test")
    update_bid(None, bids[7], {"body": DIGITAL}, check_membership=False)
    db.session.commit()
    assert similarity.get_store().snapshot().unfitted_rows() > 0  # no refit happened
    ids += [newcomer.id, draft.id]
    kept = _everything(similarity.pairs_for_many(ids, **asked))
    assert kept == _afresh(ids, **asked)
    assert kept[bids[3].id] == kept[bids[5].id] == kept[draft.id] == []
    assert any(newcomer.id in (a, b) for found in kept.values() for a, b, *_ in found)


def test_after_a_change_only_the_changed_bid_is_scored_against_every_row(
    app, db, factory, monkeypatch
):
    _, bids = _corpus(factory)
    ids = [b.id for b in bids]
    similarity.pairs_for_many(ids)
    update_bid(None, bids[2], {"body": FOOD + " " + SPORT}, check_membership=False)
    db.session.commit()
    scored = _scored_rows(monkeypatch)
    similarity.pairs_for_many(ids)
    assert scored == [1]  # before: all 12, after every change of any one of them
    similarity.pairs_for_many(ids)
    assert scored == [1]  # nothing changed since: nothing scored

    similarity.rebuild()  # a refit: every score moves, nothing kept holds
    similarity.pairs_for_many(ids)
    assert sum(scored) == 1 + len(ids)
