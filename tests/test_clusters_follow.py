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

    orgs = [factory.org(f"Connectors {n}") for n in range(3)]
    bids = [
        factory.bid(org, title=f"Relational network {n}", body=TEXT) for n, org in enumerate(orgs)
    ]
    asked = _count_engine_calls(monkeypatch)
    clusters_module.follow_similarity_changes(db.session, [b.id for b in bids], [])
    assert sorted(i for call in asked for i in call) == sorted(b.id for b in bids)  # before: thrice
    assert signatures(db) == [(bids[0].id, ",".join(str(b.id) for b in bids))]


def _count_engine_calls(monkeypatch) -> list[list[int]]:
    """The bids of each call to the engine's `pairs_for` or `pairs_for_many`, in order."""
    from search_index import similarity

    asked: list[list[int]] = []
    one, many = similarity.pairs_for, similarity.pairs_for_many
    monkeypatch.setattr(
        similarity, "pairs_for", lambda bid_id, **kw: asked.append([bid_id]) or one(bid_id, **kw)
    )
    monkeypatch.setattr(
        similarity,
        "pairs_for_many",
        lambda bid_ids, **kw: asked.append(sorted(bid_ids)) or many(bid_ids, **kw),
    )
    return asked


def test_a_bid_joining_a_cluster_asks_for_its_members_pairs_in_one_batch(db, factory, monkeypatch):
    """The members of the clusters a change reaches are asked together (on PostgreSQL a query
    each before: 40 members, 40 queries), and the cluster is the one asking each gives."""
    from search_index.clusters import refresh_clusters

    members = [
        factory.bid(factory.org(f"Connectors {n}"), title=f"Relational network {n}", body=TEXT)
        for n in range(4)
    ]
    refresh_clusters()
    db.session.commit()
    joiner = factory.bid(factory.org("Late Connectors"), title="Relational network", body=TEXT)
    asked = _count_engine_calls(monkeypatch)
    clusters_module.follow_similarity_changes(db.session, [joiner.id], [])
    assert asked == [[joiner.id], sorted(m.id for m in members)]  # before: five calls of one
    everyone = sorted(b.id for b in [*members, joiner])
    assert signatures(db) == [(everyone[0], ",".join(map(str, everyone)))]
