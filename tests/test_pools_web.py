"""The pool's pages over HTTP: 404 for non-members, dashboard, CSV, pledges, inbox,
introductions."""

from __future__ import annotations

import csv
import io

import pytest

from bids.models import OrgKind
from bids.pools import services
from search_index.clusters import refresh_clusters


@pytest.fixture
def world(db, factory):
    f1 = factory.org("Funder One", kind=OrgKind.FUNDER)
    f2 = factory.org("Funder Two", kind=OrgKind.FUNDER)
    a, b = factory.org("Applicant A"), factory.org("Applicant B")
    one = factory.user("one@example.org", "One", org=f1)
    two = factory.user("two@example.org", "Two", org=f2)
    outsider = factory.user(
        "out@example.org", "Outsider", org=factory.org("Funder Three", kind=OrgKind.FUNDER)
    )
    writer_a = factory.user("a@example.org", "Writer A", org=a)
    writer_b = factory.user("b@example.org", "Writer B", org=b)
    pool = services.create_pool(one, f1, {"name": "Secret Pool"})
    services.respond_to_invitation(two, services.invite_funder(one, pool, f2).id, True)
    bid_a = factory.bid(
        a,
        title="Neighbours network",
        funder={"name": "Funder One"},
        amount_requested="300000",
        status="submitted",
    )
    bid_b = factory.bid(
        b,
        title="Street friends",
        funder={"name": "Funder Two"},
        amount_requested="90000",
        status="submitted",
    )
    refresh_clusters([(bid_a.id, bid_b.id, 0.75)])
    db.session.commit()
    return dict(
        pool=pool,
        bid_a=bid_a,
        bid_b=bid_b,
        one=one,
        two=two,
        outsider=outsider,
        writer_a=writer_a,
        writer_b=writer_b,
    )


def pool_urls(w):
    p = w["pool"].id
    return [
        f"/pools/{p}",
        f"/pools/{p}/export.csv",
        f"/pools/{p}/settings",
        f"/pools/{p}/clusters/{w['bid_a'].id}",
        f"/pools/{p}/bids/{w['bid_a'].id}",
    ]


def test_non_members_get_404_everywhere(world, client, auth):
    for email in ("out@example.org", "a@example.org"):
        auth.login(email)
        for url in pool_urls(world):
            assert client.get(url).status_code == 404, (email, url)
        response = client.post(
            f"/pools/{world['pool'].id}/pledges",
            data={"pledge-bid_id": world["bid_a"].id, "pledge-amount": "5"},
        )
        assert response.status_code == 404
        auth.logout()
    assert client.get(pool_urls(world)[0]).status_code in (302, 401)


def test_member_dashboard_and_csv(world, client, auth):
    auth.login("two@example.org")
    for url in pool_urls(world):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/pools/{world['pool'].id}").get_data(as_text=True)
    assert "Overlap cluster" in page and "Neighbours network" in page and "Street friends" in page
    assert "Pool members applied to" in page
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/pools/{world['pool'].id}/export.csv?list=clusters").get_data(
                    as_text=True
                )
            )
        )
    )
    assert len(rows) == 1 and float(rows[0]["score"]) > 0
    assert set(rows[0]["organisations"].split("; ")) == {"Applicant A", "Applicant B"}
    empty = client.get(f"/pools/{world['pool'].id}/export.csv?list=clusters&theme=food")
    assert len(list(csv.reader(io.StringIO(empty.get_data(as_text=True))))) == 1  # header only


def test_pledge_seen_by_the_other_member_with_inbox_count(world, client, auth):
    pool, bid = world["pool"], world["bid_a"]
    auth.login("one@example.org")
    client.post(
        f"/pools/{pool.id}/pledges",
        data={
            "pledge-bid_id": bid.id,
            "pledge-amount": "180000",
            "pledge-currency": "GBP",
            "pledge-note": "Core costs",
        },
    )
    refused = client.post(
        f"/pools/{pool.id}/pledges",
        follow_redirects=True,
        data={"pledge-bid_id": bid.id, "pledge-amount": "1000", "pledge-currency": "EUR"},
    )
    assert "never adds EUR to GBP" in refused.get_data(as_text=True)
    auth.logout()
    auth.login("two@example.org")
    home = client.get("/pools/").get_data(as_text=True)
    # The invitation to the pool and now the pledge notice.
    assert '<span class="badge">2<span class="visually-hidden"> unread</span>' in home
    assert "Funder One pledged GBP 180,000" in client.get("/pools/inbox").get_data(as_text=True)
    client.post("/pools/inbox/read")
    assert 'class="badge"' not in client.get("/pools/").get_data(as_text=True)
    page = client.get(f"/pools/{pool.id}/bids/{bid.id}").get_data(as_text=True)
    assert "1 funder, GBP 180,000 of 300,000 pledged" in page and "Core costs" in page
    # The public bid page and the applicant never see it while the pool does not share.
    auth.logout()
    assert "180,000" not in client.get(f"/bids/{bid.id}").get_data(as_text=True)
    auth.login("a@example.org")
    assert "180,000" not in client.get(f"/pools/bids/{bid.id}/pledges").get_data(as_text=True)
    auth.logout()
    auth.login("b@example.org")
    assert client.get(f"/pools/bids/{bid.id}/pledges").status_code == 404


def test_introduction_over_http(world, client, auth):
    a, b = world["bid_a"], world["bid_b"]
    auth.login("a@example.org")
    overlaps = client.get("/pools/overlaps").get_data(as_text=True)
    assert "Propose an introduction to Applicant B" in overlaps
    response = client.post(
        "/pools/introductions/new", data={"first": a.id, "second": b.id, "message": "Let us talk"}
    )
    assert response.status_code == 302
    intro_url = response.headers["Location"]
    assert "a@example.org" not in client.get(intro_url).get_data(as_text=True)
    auth.logout()
    auth.login("out@example.org")
    assert client.get(intro_url).status_code == 404
    auth.logout()
    auth.login("b@example.org")
    client.post(intro_url + "/accept")
    page = client.get(intro_url).get_data(as_text=True)
    assert "a@example.org" in page and "b@example.org" in page and "accepted" in page
