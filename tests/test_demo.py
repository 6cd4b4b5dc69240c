"""Demo content: the Collective's bid, breadth across nations and funders, idempotence."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from bids.accounts import authenticate
from bids.demo import seed_demo
from bids.demo_content import BIDS, COLLECTIVE_ID, DEMO_PASSWORD
from bids.models import Bid, BidLink, Organisation, OrgKind, User, Visibility


def _counts(db):
    return tuple(
        db.session.scalar(select(func.count(model.id)))
        for model in (Bid, Organisation, User, BidLink)
    )


def test_seed_creates_the_collective_bid(db):
    report = seed_demo()
    bid = db.session.scalar(select(Bid).where(Bid.identifier == COLLECTIVE_ID))
    assert bid.organisation.name == "The Relationships Project"
    assert bid.organisation.kind == OrgKind.COLLECTIVE
    assert bid.organisation.org_identifier is None
    assert bid.funder.name == "The National Lottery Community Fund"
    assert bid.funder.kind == OrgKind.FUNDER
    assert bid.programme == "Bringing People Together"
    assert bid.status == "awarded" and bid.is_public
    assert bid.currency == "GBP"
    assert bid.amount_requested == Decimal("300000.00") == bid.amount_awarded
    assert bid.duration_months == 24
    assert "The Collective" in bid.body
    assert "demo@openbids.test" in report and DEMO_PASSWORD in report


def test_seed_breadth(db):
    seed_demo()
    published = list(db.session.scalars(select(Bid).where(Bid.visibility == Visibility.PUBLISHED)))
    assert len(published) >= 13
    assert len({b.organisation_id for b in published}) >= 6
    assert len({b.funder_id for b in published}) >= 3
    places = {place for b in published for place in b.locations}
    assert {"England", "Scotland", "Wales", "Northern Ireland"} <= places
    assert {b.status for b in published} >= {"submitted", "awarded", "declined"}
    assert "EUR" in {b.currency for b in published}
    drafts = db.session.scalars(select(Bid).where(Bid.visibility == Visibility.DRAFT)).all()
    assert len(drafts) == 1
    kinds = {link.kind for link in db.session.scalars(select(BidLink))}
    assert kinds == {"also_sent_to", "resubmission_of"}
    for bid in published:
        words = len(bid.body.split())
        assert 150 <= words <= 400, (bid.identifier, words)
        assert "## " in bid.body and bid.summary


def test_demo_people_can_sign_in(db):
    seed_demo()
    demo = authenticate("demo@openbids.test", DEMO_PASSWORD)
    admin = authenticate("admin@openbids.test", DEMO_PASSWORD)
    assert demo is not None and not demo.is_admin
    assert [m.organisation.name for m in demo.memberships] == ["The Relationships Project"]
    assert admin is not None and admin.is_admin
    for email in ("funder1@openbids.test", "funder2@openbids.test"):
        funder = authenticate(email, DEMO_PASSWORD)
        assert funder is not None
        assert [m.organisation.kind for m in funder.memberships] == [OrgKind.FUNDER]


def test_seed_is_idempotent(db):
    seed_demo()
    first = _counts(db)
    report = seed_demo()
    assert _counts(db) == first
    assert "(0 new)" in report


def test_only_if_empty_skips_when_bids_exist(db, factory):
    factory.bid(factory.org("Someone Else"))
    report = seed_demo(only_if_empty=True)
    assert "not loaded" in report
    assert db.session.scalar(select(func.count(Bid.id))) == 1


def test_seed_command(runner, db):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "demo@openbids.test" in result.output
    assert db.session.scalar(select(func.count(Bid.id))) >= 14


def test_demo_pool_has_two_funders_and_a_real_overlap_cluster(db):
    from bids.pools.models import OverlapCluster, Pool
    from bids.pools.opportunities import overlap_clusters, too_big

    seed_demo()
    pool = db.session.scalar(select(Pool).where(Pool.name == "Relationships Funders Pool"))
    assert {m.organisation.name for m in pool.members} == {
        "The National Lottery Community Fund",
        "The Thistle and Heather Trust",
    }
    collective = db.session.scalar(select(Bid).where(Bid.identifier == COLLECTIVE_ID))
    clusters = overlap_clusters(pool)
    assert clusters, "the demo needs at least one overlap cluster"
    with_collective = [c for c in clusters if collective in c.bids]
    assert with_collective and len({b.organisation_id for b in with_collective[0].bids}) >= 3
    assert [o.bids[0].identifier for o in too_big(pool)]  # e.g. Kinship's GBP 240,000 to NLCF
    before = [(c.id, c.signature) for c in db.session.scalars(select(OverlapCluster))]
    seed_demo()
    assert [(c.id, c.signature) for c in db.session.scalars(select(OverlapCluster))] == before


def test_every_demo_bid_is_dated(db):
    seed_demo()
    for identifier in (spec["identifier"] for spec in BIDS):
        bid = db.session.scalar(select(Bid).where(Bid.identifier == identifier))
        if bid.status == "draft":
            assert bid.submitted_on is None and bid.decided_on is None, identifier
            continue
        assert bid.submitted_on is not None, identifier
        if bid.status in ("awarded", "declined"):
            assert bid.decided_on is not None and bid.decided_on > bid.submitted_on, identifier
    collective = db.session.scalar(select(Bid).where(Bid.identifier == COLLECTIVE_ID))
    assert (collective.submitted_on.year, collective.decided_on.year) == (2021, 2022)
