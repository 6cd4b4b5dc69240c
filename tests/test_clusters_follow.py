"""Clusters follow publishing: the similarity store's outbox rows redo a bid's neighbourhood."""

from __future__ import annotations

from sqlalchemy import select

from bids.pools.models import OverlapCluster
from bids.publishing import hide_bid, publish_bid
from search_index import clusters as clusters_module

TEXT = (
    "Relational practice network: a map of community connectors, peer learning circles for "
    "neighbourhood workers, and a shared library of stories about kindness between strangers "
    "in small towns across the valleys, with monthly gatherings and a small grants fund."
)


def signatures(db):
    return [(c.id, c.signature) for c in db.session.scalars(select(OverlapCluster))]


def test_publishing_an_overlapping_bid_forms_a_cluster_and_hiding_it_dissolves_it(db, factory):
    first = factory.bid(factory.org("Valleys Connectors"), title="Relational network", body=TEXT)
    factory.bid(
        factory.org("Unrelated Org"),
        title="Boat repairs",
        body="Fibreglass hulls, marine engines and harbour moorings for fishing boats.",
    )
    draft = factory.bid(
        factory.org("Hill Towns Network"),
        title="Relational network, hills",
        body=TEXT,
        published=False,
    )
    assert signatures(db) == []  # a draft is never clustered

    publish_bid(None, draft, check_membership=False)
    db.session.commit()  # nothing else called: the commit's outbox rows did it
    assert signatures(db) == [(first.id, f"{first.id},{draft.id}")]

    hide_bid(factory.user(admin=True), draft, "Moderation test")
    db.session.commit()
    assert signatures(db) == []


def test_large_batches_wait_for_the_full_refresh(db, app, monkeypatch):
    calls = []
    monkeypatch.setattr(
        clusters_module, "refresh_neighbourhood", lambda bid_id, *a, **kw: calls.append(bid_id)
    )
    many = list(range(1, clusters_module.NEIGHBOURHOOD_BATCH + 2))
    clusters_module.follow_similarity_changes(db.session, many, [])
    assert calls == []
    clusters_module.follow_similarity_changes(db.session, [1, 2], [3])
    assert calls == [1, 2, 3]
    app.config["OVERLAP_AUTO_REFRESH"] = False
    clusters_module.follow_similarity_changes(db.session, [4], [])
    assert calls == [1, 2, 3]


def test_a_batch_asks_the_engine_for_each_bids_pairs_once(db, factory, monkeypatch):
    """Changed bids of one batch in one neighbourhood share the engine's answers."""
    from search_index import similarity

    orgs = [factory.org(f"Connectors {n}") for n in range(3)]
    bids = [
        factory.bid(org, title=f"Relational network {n}", body=TEXT) for n, org in enumerate(orgs)
    ]
    asked: list[int] = []
    real = similarity.pairs_for
    monkeypatch.setattr(
        similarity, "pairs_for", lambda one, **kw: asked.append(one) or real(one, **kw)
    )
    clusters_module.follow_similarity_changes(db.session, [b.id for b in bids], [])
    assert sorted(asked) == sorted(b.id for b in bids)  # before: each of the three thrice
    assert signatures(db) == [(bids[0].id, ",".join(str(b.id) for b in bids))]
