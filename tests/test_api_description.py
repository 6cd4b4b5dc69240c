"""The OpenAPI description matches the code: every query parameter a GET route reads is
described, and every one described is read; enum parameters refuse empty values; ids and
pages too large for the database answer 404/400, never 500."""

from __future__ import annotations

import re

import pytest
from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.utils import cached_property

from bids.demo import seed_demo

READ: set[str] = set()


class RecordingArgs(ImmutableMultiDict):
    """Query arguments that remember every name the code asks for."""

    def get(self, key, *args, **kwargs):
        READ.add(key)
        return super().get(key, *args, **kwargs)

    def getlist(self, key, *args, **kwargs):
        READ.add(key)
        return super().getlist(key, *args, **kwargs)

    def __getitem__(self, key):
        READ.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        READ.add(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    @cached_property
    def args(self):
        return RecordingArgs(super().args)


@pytest.fixture
def recorded(app, client):
    seed_demo()
    app.request_class = RecordingRequest
    yield client
    app.request_class = Request


def _get_routes(app) -> list[str]:
    return sorted(
        {
            rule.rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("api.")
            and "GET" in rule.methods
            and not rule.rule.endswith(("openapi.json", "/api/v1/"))
        }
    )


def _concrete(rule: str) -> str:
    return re.sub(r"<(?:int:)?[a-z_]+>", "1", rule)


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def _described(document, path: str) -> set[str]:
    operation = document["paths"][path]["get"]
    names = set()
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = document["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        if param["in"] == "query":
            names.add(param["name"])
    return names


def test_every_get_route_describes_exactly_the_parameters_it_reads(app, recorded):
    document = recorded.get("/api/v1/openapi.json").get_json()
    mismatches, checked = {}, set()
    for rule in _get_routes(app):
        READ.clear()
        # Plain, then as a search (`GET /bids` reads the search parameters only then).
        answers = [
            recorded.get(_concrete(rule) + query).status_code for query in ("", "?q=community")
        ]
        if answers[0] != 200:
            continue  # refused before reading its parameters (a pool needs a member's token)
        checked.add(rule)
        read = READ - {"q"} | (
            {"q"} if "q" in _described(document, _openapi_path(rule)) or "q" in READ else set()
        )
        described = _described(document, _openapi_path(rule))
        if read != described:
            mismatches[rule] = {
                "read, not described": sorted(read - described),
                "described, not read": sorted(described - read),
            }
    assert mismatches == {}
    assert {
        "/api/v1/bids",
        "/api/v1/bids/<int:bid_id>",
        "/api/v1/360giving.json",
        "/api/v1/export.csv",
    } <= checked


@pytest.mark.parametrize("query", ["status=", "sort=", "band="])
def test_enum_parameters_refuse_empty_values(client, query):
    assert client.get(f"/api/v1/bids?{query}").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/bids/9223372036854775808",
        "/api/v1/bids/99999999999999999999/similar",
    ],
)
def test_ids_past_the_databases_integers_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_a_page_past_the_databases_integers_is_refused(client):
    response = client.get("/api/v1/bids?page=1594507270295776000")
    assert response.status_code == 400


def _links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


@pytest.mark.parametrize("query", ["", "&q=community"])
def test_paged_lists_link_first_prev_next_last(app, client, query):
    seed_demo()
    first = client.get(f"/api/v1/bids?per_page=2{query}")
    total = first.get_json()["total"]
    assert total > 4
    links = _links(first.headers["Link"])
    assert set(links) == {"first", "next", "last"}
    last_page = -(-total // 2)
    assert f"page={last_page}" in links["last"] and "per_page=2" in links["next"]
    if query:
        assert "q=community" in links["next"]
    second = client.get(links["next"].removeprefix("http://localhost"))
    assert second.get_json()["page"] == 2
    assert set(_links(second.headers["Link"])) == {"first", "prev", "next", "last"}


def test_reads_are_conditional_and_open_to_other_origins(app, client):
    seed_demo()
    response = client.get("/api/v1/bids/1")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    again = client.get("/api/v1/bids/1", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    changed = client.get("/api/v1/bids/1", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def test_cookie_authenticated_pages_are_not_opened_to_other_origins(client):
    assert "Access-Control-Allow-Origin" not in client.get("/").headers
