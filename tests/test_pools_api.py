"""Pool API: member token only (404 otherwise), opportunities with score parts, pledge and
withdraw."""

from __future__ import annotations

from bids.accounts import create_api_token
from bids.models import OrgKind
from bids.pools import services
from search_index.clusters import refresh_clusters


def test_pool_api(db, factory, client):
    f1 = factory.org("Funder One", kind=OrgKind.FUNDER)
    one = factory.user("one@example.org", org=f1)
    outsider = factory.user("out@example.org", org=factory.org("F3", kind=OrgKind.FUNDER))
    pool = services.create_pool(one, f1, {"name": "Pool"})
    a = factory.bid(factory.org("A"), funder={"name": "Funder One"}, amount_requested="1000")
    b = factory.bid(factory.org("B"), amount_requested="2000")
    refresh_clusters([(a.id, b.id, 0.9)])
    _, secret = create_api_token(one)
    _, other = create_api_token(outsider)
    db.session.commit()
    mine = {"Authorization": f"Bearer {secret}"}
    theirs = {"Authorization": f"Bearer {other}"}

    assert client.get(f"/api/v1/pools/{pool.id}/opportunities").status_code == 401
    assert client.get(f"/api/v1/pools/{pool.id}/opportunities", headers=theirs).status_code == 404
    body = client.get(f"/api/v1/pools/{pool.id}/opportunities", headers=mine).get_json()
    assert [o["cluster_id"] for o in body["clusters"]] == [a.id]
    assert {p["label"] for p in body["clusters"][0]["score_parts"]} >= {"Overlap strength"}

    url = f"/api/v1/pools/{pool.id}/pledges"
    assert (
        client.post(url, json={"bid_id": a.id, "amount": "10"}, headers=theirs).status_code == 404
    )
    refused = client.post(
        url, json={"bid_id": a.id, "amount": "10", "currency": "USD"}, headers=mine
    )
    assert refused.status_code == 422 and "currency" in refused.get_json()["error"]["fields"]
    made = client.post(url, json={"bid_id": a.id, "amount": "500", "note": "half"}, headers=mine)
    assert made.status_code == 201
    pledge = made.get_json()
    assert (pledge["amount"], pledge["currency"], pledge["kind"]) == ("500.00", "GBP", "amount")
    assert client.delete(f"{url}/{pledge['id']}", headers=theirs).status_code == 404
    gone = client.delete(f"{url}/{pledge['id']}", headers=mine)
    assert gone.status_code == 200 and gone.get_json()["withdrawn_at"]
    assert services.bid_co_funding(pool, a).funders == 0
