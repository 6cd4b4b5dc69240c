"""Out-of-range numbers in paths and page numbers are a 404 (pages) or a 400 (API), never a 500."""

from __future__ import annotations

import pytest

from bids.models import OrgKind

HUGE = "99999999999999999999"  # past SQLite's 2**63 - 1
PAST_INT4 = str(2**31)  # past PostgreSQL's integer ids


@pytest.fixture
def member(factory, auth):
    org = factory.org("Cardiff Food Bank")
    user = factory.user("writer@example.org", org=org)
    bid = factory.bid(org, title="Pantry")
    auth.login(user.email)
    return bid


@pytest.mark.parametrize("number", [HUGE, PAST_INT4])
@pytest.mark.parametrize(
    "path",
    [
        "/bids/{n}",
        "/bids/{n}/edit",
        "/bids/{n}/revisions",
        "/bids/{n}/attachments/{n}/x.pdf",
        "/compare/{n}/{n}",
        "/pools/{n}",
        "/pools/{n}/clusters/{n}",
        "/pools/bids/{n}/pledges",
        "/pools/invitations/{n}",
        "/pools/introductions/{n}",
    ],
)
def test_huge_ids_in_pages_are_not_found(client, member, path, number):
    assert client.get(path.format(n=number)).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/bids/{n}", "/api/v1/bids/{n}/similar"])
def test_huge_ids_in_the_api_are_not_found(client, path):
    response = client.get(path.format(n=HUGE))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_huge_ids_in_posted_forms_are_not_found(client, member):
    for path in (
        f"/bids/{HUGE}/links/1/delete",
        f"/pools/{HUGE}/pledges",
        f"/orgs/{member.organisation.slug}/members/{HUGE}/remove",
    ):
        assert client.post(path).status_code == 404, path


def test_the_largest_id_is_an_ordinary_miss(client, member):
    assert client.get(f"/bids/{2**31 - 1}").status_code == 404
    assert client.get(f"/bids/{member.id}").status_code == 200


@pytest.mark.parametrize("path", ["/bids/", "/orgs/", "/search"])
def test_huge_page_numbers_are_not_found(client, member, path):
    assert client.get(f"{path}?page={HUGE}").status_code == 404
    assert client.get(f"{path}?page=10001").status_code == 404


def test_huge_page_numbers_of_an_organisation_are_not_found(client, factory, member):
    slug = member.organisation.slug
    funder = factory.org("Lottery Fund", kind=OrgKind.FUNDER)
    assert client.get(f"/orgs/{slug}?page={HUGE}").status_code == 404
    assert client.get(f"/orgs/{funder.slug}?received_page={HUGE}").status_code == 404
    assert client.get(f"/orgs/{slug}?page=10000").status_code == 200


@pytest.mark.parametrize("page", ["abc", "0", "-3", "²", ""])
def test_malformed_page_numbers_mean_the_first_page(client, member, page):
    for path in ("/orgs/", "/search?q=pantry&", f"/orgs/{member.organisation.slug}"):
        joiner = "" if path.endswith("&") else "?"
        response = client.get(f"{path}{joiner}page={page}")
        assert response.status_code == 200, (path, page)


@pytest.mark.parametrize(
    "query", [f"page={HUGE}", "page=10001", f"per_page={HUGE}", f"page={HUGE}&q=pantry"]
)
def test_huge_page_numbers_in_the_api_are_bad_requests(client, member, query):
    response = client.get(f"/api/v1/bids?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_the_last_allowed_api_page_is_empty_not_an_error(client, member):
    body = client.get("/api/v1/bids?page=10000").get_json()
    assert body["items"] == [] and body["total"] == 1 and body["page"] == 10000


def test_huge_ids_in_query_strings_and_forms_are_not_found(client, member):
    assert client.get(f"/bids/{member.id}/revisions/compare?from={HUGE}").status_code == 404
    assert client.get(f"/bids/{member.id}/revisions/compare?to=-1").status_code == 404
    assert client.get(f"/pools/introductions/new?first={HUGE}&second=1").status_code == 404
    form = {"first": member.id, "second": member.id, "message": "Meet?"}
    for cluster in (HUGE, "abc"):
        response = client.post("/pools/introductions/new", data={**form, "cluster": cluster})
        assert response.status_code == 404, cluster
