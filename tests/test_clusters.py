"""Overlap clustering on small fixtures with known answers (pairs fed directly)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from bids.pools.models import DuplicatePair, OverlapCluster, OverlapClusterMember
from search_index.clusters import (
    BidFacts,
    build_clusters,
    near_duplicates,
    refresh_clusters,
    refresh_neighbourhood,
    words_shared_by_organisations,
)


@pytest.fixture
def app_config():
    """Pairs are fed by hand here: publishing must not also cluster through the engine."""
    return {"OVERLAP_AUTO_REFRESH": False}


# bid id -> organisation id
ORGS = {1: 10, 2: 20, 3: 30, 4: 10, 5: 40, 6: 50, 7: 60, 8: 60}
FACTS = {
    i: BidFacts(i, org, funder_id=100 + i % 3, amount_minor=1000 * i) for i, org in ORGS.items()
}
PAIRS = [
    (1, 2, 0.9),
    (2, 3, 0.5),  # 1-2-3: a chain across three organisations
    (4, 5, 0.2),  # below the threshold
    (5, 6, 0.7),  # a pair of two organisations
    (7, 8, 0.95),  # one organisation only: not a cluster
    (1, 99, 0.9),  # 99 is not clusterable (draft, hidden or withdrawn)
]


def members(drafts):
    return [sorted(d.member_scores) for d in drafts]


def test_known_answer():
    drafts = build_clusters(PAIRS, FACTS, threshold=0.3)
    assert members(drafts) == [[1, 2, 3], [5, 6]]
    first = drafts[0]
    assert first.id == 1 and first.signature == "1,2,3"
    assert first.member_scores == {1: 0.9, 2: 0.9, 3: 0.5}
    assert first.top_score == 0.9 and first.mean_score == 0.7
    assert first.organisation_count == 3
    assert first.requested_minor == {"GBP": 6000}
    assert "3 bids from 3 organisations" in first.reason


def test_threshold_changes_answer():
    assert members(build_clusters(PAIRS, FACTS, threshold=0.6)) == [[1, 2], [5, 6]]
    assert members(build_clusters(PAIRS, FACTS, threshold=0.1)) == [[1, 2, 3], [4, 5, 6]]


def test_stable_whatever_the_order_of_pairs():
    expected = build_clusters(PAIRS, FACTS, threshold=0.3)
    shuffled = [(b, a, s) for a, b, s in PAIRS]
    random.Random(4).shuffle(shuffled)
    again = build_clusters(shuffled, FACTS, threshold=0.3)
    assert [(d.id, d.signature, d.member_scores) for d in again] == [
        (d.id, d.signature, d.member_scores) for d in expected
    ]


def test_oversized_group_is_split_at_a_higher_threshold():
    facts = {i: BidFacts(i, i) for i in range(1, 9)}
    # Two tight groups of four joined by one weak link: too big together for max_size=5.
    pairs = [(a, b, 0.9) for a in range(1, 5) for b in range(a + 1, 5)]
    pairs += [(a, b, 0.9) for a in range(5, 9) for b in range(a + 1, 9)]
    pairs.append((4, 5, 0.32))
    assert members(build_clusters(pairs, facts, threshold=0.3, max_size=8)) == [list(range(1, 9))]
    assert members(build_clusters(pairs, facts, threshold=0.3, max_size=5)) == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
    ]


def test_near_duplicates_are_one_organisation_to_different_funders():
    facts = {
        1: BidFacts(1, 10, funder_id=1),
        2: BidFacts(2, 10, funder_id=2),
        3: BidFacts(3, 10, funder_id=1),
        4: BidFacts(4, 20, funder_id=3),
    }
    pairs = [(1, 2, 0.92), (1, 3, 0.95), (2, 4, 0.99), (2, 1, 0.85)]
    assert near_duplicates(pairs, facts, 0.8) == [(1, 2, 0.92)]


def test_words_shared_by_organisations_need_two_organisations():
    facts = {1: BidFacts(1, 10), 2: BidFacts(2, 20), 3: BidFacts(3, 10)}
    texts = {
        1: "Relational practice network map",
        2: "A network map of relational work",
        3: "Befriending befriending",
    }
    terms = words_shared_by_organisations(texts, facts)
    assert set(terms) == {"relational", "network"}


def test_refresh_persists_and_is_stable(db, factory):
    orgs = [factory.org(f"Org {n}") for n in range(3)]
    bids = [factory.bid(orgs[n % 3], title=f"Neighbourhood network {n}") for n in range(5)]
    draft = factory.bid(orgs[0], published=False)
    ids = [b.id for b in bids]
    pairs = [
        (ids[0], ids[1], 0.8),
        (ids[1], ids[2], 0.6),
        (ids[3], ids[4], 0.7),
        (ids[0], draft.id, 0.99),
    ]
    report = refresh_clusters(pairs)
    db.session.commit()
    assert (report.clusters, report.created, report.removed) == (2, 2, 0)
    rows = db.session.scalars(select(OverlapCluster).order_by(OverlapCluster.id)).all()
    assert [r.id for r in rows] == [ids[0], ids[3]]
    assert rows[0].signature == ",".join(map(str, ids[:3]))
    assert "neighbourhood" in rows[0].key_terms
    stamps = [r.computed_at for r in rows]

    again = refresh_clusters(list(reversed(pairs)))
    db.session.commit()
    assert (again.unchanged, again.created, again.changed, again.removed) == (2, 0, 0, 0)
    rows = db.session.scalars(select(OverlapCluster).order_by(OverlapCluster.id)).all()
    assert [r.computed_at for r in rows] == stamps

    # The link 1-2 disappears: cluster ids[0] keeps only ids[0..1]; the rest is unchanged.
    third = refresh_clusters([(ids[0], ids[1], 0.8), (ids[3], ids[4], 0.7)])
    db.session.commit()
    assert (third.changed, third.unchanged, third.removed) == (1, 1, 0)
    got = db.session.scalars(
        select(OverlapClusterMember.bid_id).where(OverlapClusterMember.cluster_id == ids[0])
    ).all()
    assert sorted(got) == ids[:2]

    fourth = refresh_clusters([])
    db.session.commit()
    assert fourth.removed == 2
    assert db.session.scalars(select(OverlapClusterMember)).all() == []


def test_refresh_records_near_duplicates(db, factory):
    org = factory.org("Twin Sender")
    a = factory.bid(org, funder={"name": "Funder A"})
    b = factory.bid(org, funder={"name": "Funder B"})
    refresh_clusters([(a.id, b.id, 0.97)])
    db.session.commit()
    dup = db.session.scalars(select(DuplicatePair)).one()
    assert (dup.first_bid_id, dup.second_bid_id) == (a.id, b.id)
    # Same organisation only: no cluster.
    assert db.session.scalars(select(OverlapCluster)).all() == []


def test_neighbourhood_refresh_joins_a_new_bid(db, factory):
    orgs = [factory.org(f"Org {n}") for n in range(3)]
    a, b = factory.bid(orgs[0]), factory.bid(orgs[1])
    graph = {(a.id, b.id): 0.8}
    refresh_clusters([(x, y, s) for (x, y), s in graph.items()])
    db.session.commit()
    c = factory.bid(orgs[2])
    graph[(b.id, c.id)] = 0.5

    def neighbours(bid_id):
        return [(x, y, s) for (x, y), s in graph.items() if bid_id in (x, y)]

    report = refresh_neighbourhood(c.id, neighbours)
    db.session.commit()
    assert report.changed == 1
    cluster = db.session.get(OverlapCluster, a.id)
    assert cluster.signature == f"{a.id},{b.id},{c.id}"
    assert cluster.organisation_count == 3


def test_overlaps_refresh_command(db, factory, runner):
    orgs = [factory.org(f"Org {n}") for n in range(2)]
    text = "Relational practice network map for community connectors and peer learning."
    for org in orgs:
        factory.bid(org, title="Relational network", body=text)
    result = runner.invoke(args=["overlaps", "refresh"])
    assert result.exit_code == 0, result.output
    assert "1 clusters (1 new" in result.output
    assert db.session.scalars(select(OverlapCluster)).one().organisation_count == 2


def test_engine_terms_and_strength_come_from_pairs_between_organisations():
    from search_index.similarity import OverlapPair

    facts = {1: BidFacts(1, 10), 2: BidFacts(2, 10), 3: BidFacts(3, 20)}
    pairs = [
        OverlapPair(1, 2, 0.95, "near_duplicate", ["same", "organisation"]),
        OverlapPair(1, 3, 0.4, "strong", ["kinship care", "peer learning"]),
        OverlapPair(2, 3, 0.3, "strong", ["peer learning", "kinship"]),
    ]

    def no_texts(ids):
        raise AssertionError("the engine's terms suffice")

    [cluster] = build_clusters(pairs, facts, threshold=0.2, texts=no_texts)
    assert cluster.key_terms[:2] == ["peer learning", "kinship care"]
    assert "same" not in cluster.key_terms  # a pair within one organisation says nothing shared
    assert cluster.top_score == 0.4 and cluster.mean_score == 0.35
    assert (
        near_duplicates([OverlapPair(1, 2, 0.5, "near_duplicate", [])], facts) == []
    )  # one funder
    two_funders = {1: BidFacts(1, 10, funder_id=5), 2: BidFacts(2, 10, funder_id=6)}
    assert near_duplicates([OverlapPair(1, 2, 0.5, "near_duplicate", [])], two_funders) == [
        (1, 2, 0.5)
    ]
    assert near_duplicates([OverlapPair(1, 2, 0.5, "strong", [])], two_funders) == []
