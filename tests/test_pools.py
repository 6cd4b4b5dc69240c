"""Funders' pool services: membership, authorisation, pledges, introductions, opportunities."""

from __future__ import annotations

import pytest

from bids.errors import Forbidden, NotFound, ValidationError
from bids.models import OrgKind
from bids.pools import services
from bids.pools.access import get_member_pool
from bids.pools.models import Notification
from bids.pools.opportunities import Filters, overlap_clusters, sent_to_several, too_big
from search_index.clusters import refresh_clusters


@pytest.fixture
def world(db, factory):
    f1 = factory.org("Funder One", kind=OrgKind.FUNDER)
    f2 = factory.org("Funder Two", kind=OrgKind.FUNDER)
    f3 = factory.org("Funder Three", kind=OrgKind.FUNDER)
    a = factory.org("Applicant A")
    b = factory.org("Applicant B")
    people = {
        "one": factory.user("one@example.org", "One", org=f1),
        "two": factory.user("two@example.org", "Two", org=f2),
        "three": factory.user("three@example.org", "Three", org=f3),
        "writer_a": factory.user("a@example.org", "Writer A", org=a),
        "writer_b": factory.user("b@example.org", "Writer B", org=b),
    }
    pool = services.create_pool(
        people["one"], f1, {"name": "Northern Pool", "themes": "loneliness", "geographies": ""}
    )
    invitation = services.invite_funder(people["one"], pool, f2)
    services.respond_to_invitation(people["two"], invitation.id, accept=True)
    bid_a = factory.bid(
        a,
        title="Befriending older neighbours",
        funder={"name": "Funder One"},
        amount_requested="300000",
        themes=["loneliness"],
        status="submitted",
    )
    bid_b = factory.bid(
        b,
        title="Tea and friendship",
        funder={"name": "Funder Two"},
        amount_requested="80000",
        themes=["loneliness"],
        status="submitted",
    )
    refresh_clusters([(bid_a.id, bid_b.id, 0.7)])
    db.session.commit()
    return dict(pool=pool, f1=f1, f2=f2, f3=f3, a=a, b=b, bid_a=bid_a, bid_b=bid_b, **people)


def test_non_members_get_not_found(world, factory):
    pool = world["pool"]
    admin = factory.user("admin@example.org", admin=True)
    for outsider in (world["three"], world["writer_a"], admin, None):
        with pytest.raises(NotFound):
            get_member_pool(outsider, pool.id)
        with pytest.raises(NotFound):
            services.make_pledge(outsider, pool, {"bid_id": world["bid_a"].id})
    assert get_member_pool(world["two"], pool.id) is pool


def test_invitations_ownership_and_leaving(world, db):
    pool, one, two = world["pool"], world["one"], world["two"]
    assert pool.owner == world["f1"]
    with pytest.raises(Forbidden):
        services.hand_over(two, pool, world["f2"].id)
    with pytest.raises(ValidationError):
        services.leave_pool(one, pool, world["f1"].id)  # the owner must hand over first
    with pytest.raises(ValidationError):
        services.invite_funder(one, pool, world["a"])  # not a funder
    services.hand_over(one, pool, world["f2"].id)
    assert pool.owner == world["f2"]
    assert services.leave_pool(one, pool, world["f1"].id) is False
    with pytest.raises(NotFound):
        get_member_pool(one, pool.id)
    # The invited funder was notified of the invitation.
    kinds = [n.kind for n in db.session.query(Notification).filter_by(user_id=two.id)]
    assert "invitation" in kinds


def test_pledge_arithmetic_and_currencies(world):
    pool, bid = world["pool"], world["bid_a"]
    services.make_pledge(world["one"], pool, {"bid_id": bid.id, "amount": "100000", "note": "core"})
    services.make_pledge(
        world["two"], pool, {"bid_id": bid.id, "amount": "80,000", "currency": "GBP"}
    )
    status = services.bid_co_funding(pool, bid)
    assert status.summary() == "2 funders, GBP 180,000 of 300,000 pledged"
    with pytest.raises(ValidationError) as refused:
        services.make_pledge(
            world["two"], pool, {"bid_id": bid.id, "amount": "5000", "currency": "EUR"}
        )
    assert "never adds EUR to GBP" in refused.value.errors["currency"]
    interest = services.make_pledge(world["two"], pool, {"bid_id": world["bid_b"].id})
    assert interest.kind == "interest" and interest.amount_minor is None
    assert services.bid_co_funding(pool, world["bid_b"]).summary() == (
        "1 funder interested, no amount pledged yet."
    )


def test_cluster_totals_are_never_added_across_currencies(world, factory):
    from bids.pools.models import Pledge

    pledges = [
        Pledge(organisation_id=1, amount_minor=100_00, currency="GBP"),
        Pledge(organisation_id=2, amount_minor=50_00, currency="EUR"),
    ]
    status = services.co_funding(pledges, {"GBP": 300_00})
    assert status.pledged_minor == {"EUR": 5000, "GBP": 10000}
    assert "not added together" in status.summary()


def test_withdraw_and_no_leak_to_other_pools(world, factory):
    pool, bid = world["pool"], world["bid_a"]
    pledge = services.make_pledge(world["one"], pool, {"bid_id": bid.id, "amount": "1000"})
    with pytest.raises(Forbidden):
        services.withdraw_pledge(world["two"], pool, pledge.id)
    other = services.create_pool(world["three"], world["f3"], {"name": "Other"})
    with pytest.raises(NotFound):
        services.withdraw_pledge(world["three"], other, pledge.id)
    assert services.active_pledges(other, bid_ids=[bid.id]) == []
    # The applicant sees nothing until the pool shares its pledges.
    assert services.shared_pledges_for_bid(world["writer_a"], bid) == []
    with pytest.raises(NotFound):
        services.shared_pledges_for_bid(world["writer_b"], bid)
    pool.share_pledges_with_applicants = True
    assert services.shared_pledges_for_bid(world["writer_a"], bid) == [pledge]
    services.withdraw_pledge(world["one"], pool, pledge.id)
    assert services.bid_co_funding(pool, bid).funders == 0
    assert services.shared_pledges_for_bid(world["writer_a"], bid) == []


def test_introduction_shares_contacts_only_when_both_accept(world):
    writer_a, writer_b = world["writer_a"], world["writer_b"]
    intro = services.propose_introduction(
        writer_a, world["bid_b"], world["bid_a"], "Shall we talk?"
    )
    assert intro.first_org_id == world["a"].id  # the proposer's side first, accepted at once
    assert intro.status == "waiting" and services.contacts(intro) == []
    with pytest.raises(NotFound):
        services.get_introduction_for(world["three"], intro.id)
    with pytest.raises(ValidationError):
        services.respond_to_introduction(writer_a, intro.id, accept=True)  # already accepted
    with pytest.raises(ValidationError):
        services.propose_introduction(writer_b, world["bid_b"], world["bid_a"])  # duplicate
    services.respond_to_introduction(writer_b, intro.id, accept=True)
    assert intro.status == "accepted"
    assert [(o.name, u.email) for o, u in services.contacts(intro)] == [
        ("Applicant A", "a@example.org"),
        ("Applicant B", "b@example.org"),
    ]
    assert services.unread_count(writer_a) == 1  # told that both accepted


def test_outsider_writer_cannot_introduce_others(world, factory):
    c = factory.org("Applicant C")
    writer_c = factory.user("c@example.org", org=c)
    with pytest.raises(Forbidden):
        services.propose_introduction(writer_c, world["bid_a"], world["bid_b"])
    # A funder may introduce two applicants; both must then accept.
    intro = services.propose_introduction(world["one"], world["bid_a"], world["bid_b"])
    assert intro.first_accepted_at is None and intro.second_accepted_at is None


def test_opportunities(world, db):
    pool = world["pool"]
    clusters = overlap_clusters(pool)
    assert [sorted(b.id for b in o.bids) for o in clusters] == [
        sorted([world["bid_a"].id, world["bid_b"].id])
    ]
    parts = {p.label: p.points for p in clusters[0].parts}
    assert parts["Pool members applied to"] == 25.0  # both members
    assert parts["Overlap strength"] == 28.0  # 40 * 0.7
    assert clusters[0].score == sum(parts.values())
    assert overlap_clusters(pool, Filters(theme="food")) == []
    assert overlap_clusters(pool, Filters(theme="Loneliness"))

    services.create_programme(
        world["one"],
        world["f1"],
        {"name": "Neighbours", "typical_award_max": "100000", "typical_award_min": "5000"},
    )
    big = too_big(pool)
    assert [o.bids[0].id for o in big] == [world["bid_a"].id]
    assert big[0].parts[0].points == 50.0  # three times the typical maximum: capped

    assert sent_to_several(pool) == []
    from bids.publishing import link_bids

    twin = world["bid_a"]
    copy = __import__("bids.publishing", fromlist=["create_bid"]).create_bid(
        world["writer_a"],
        world["a"],
        {
            "title": "Befriending (copy)",
            "body": "Same.",
            "funder": "Funder Two",
            "visibility": "published",
            "status": "submitted",
            "amount_requested": "300000",
        },
    )
    link_bids(world["writer_a"], copy, twin, "also_sent_to")
    several = sent_to_several(pool)
    assert len(several) == 1 and {b.id for b in several[0].bids} == {twin.id, copy.id}
    assert "lineage" in several[0].reason


def test_applicants_hear_of_cluster_pledges_only_when_the_pool_shares(app, world, db):
    from sqlalchemy import select

    from bids.pools.models import Notification
    from portal.links import notice_url

    pool, bid_a, bid_b = world["pool"], world["bid_a"], world["bid_b"]
    cluster_id = min(bid_a.id, bid_b.id)

    def notices(user):
        with app.test_request_context():
            return [
                notice_url(n)
                for n in db.session.scalars(
                    select(Notification).where(
                        Notification.user_id == user.id, Notification.kind == "pledge"
                    )
                )
            ]

    services.make_pledge(world["one"], pool, {"cluster_id": cluster_id, "amount": "2000"})
    assert notices(world["writer_a"]) == notices(world["writer_b"]) == []
    assert services.shared_pledges_for_bid(world["writer_b"], bid_b) == []

    pool.share_pledges_with_applicants = True
    pledge = services.make_pledge(world["two"], pool, {"cluster_id": cluster_id, "note": "Keen"})
    assert notices(world["writer_a"]) == [f"/pools/bids/{bid_a.id}/pledges"]
    assert notices(world["writer_b"]) == [f"/pools/bids/{bid_b.id}/pledges"]
    shared = services.shared_pledges_for_bid(world["writer_b"], bid_b)
    assert pledge in shared and len(shared) == 2  # the earlier one is shared now too
    services.withdraw_pledge(world["two"], pool, pledge.id)
    assert pledge not in services.shared_pledges_for_bid(world["writer_b"], bid_b)


def test_dashboard_clusters_follow_each_refresh(world, factory, db):
    from bids.pools.opportunities import overlap_clusters

    pool, bid_a, bid_b = world["pool"], world["bid_a"], world["bid_b"]
    [first] = overlap_clusters(pool)
    assert first.parts[0].points == 28.0  # 40 x 0.7
    c = factory.bid(
        factory.org("Applicant C"), funder={"name": "Funder Two"}, themes=["loneliness"]
    )
    refresh_clusters([(bid_a.id, bid_b.id, 0.9), (bid_b.id, c.id, 0.5)])
    db.session.commit()
    [again] = overlap_clusters(pool)  # changed cluster: read afresh, not from the decoded cache
    assert again.parts[0].points == 36.0 and len(again.bids) == 3
    assert again.score == round(sum(p.points for p in again.parts), 1)
    refresh_clusters([])
    db.session.commit()
    assert overlap_clusters(pool) == []
