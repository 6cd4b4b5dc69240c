"""Search over the API: ranked `GET /bids?q=...` and the streamed exports of exactly its results."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import BadRequest

from bids.listing import visible_bids_in_order
from bids.models import BidStatus
from bids.serialize import bid_item
from portal.api import bp, openapi, page_links
from portal.api.auth import api_user
from portal.api.openapi import error_responses, json_content
from portal.exports import export_response, search_filters, search_sort
from search_index.filters import BANDS
from search_index.service import get_search_service

# Larger amounts overflow PostgreSQL's BIGINT in minor units (a 500): no grant is that big.
MAX_AMOUNT = 10**15

# `GET /bids` answers from the index when any of these is given.
SEARCH_PARAMS = ("q", "theme", "location", "min_amount", "max_amount", "sort", "band")


def wants_search() -> bool:
    return any(request.args.get(name) not in (None, "") for name in SEARCH_PARAMS)


def search_bids_response(page: int, per_page: int):
    """`GET /bids` with search parameters: ranked items with highlights and facet counts."""
    user = api_user()
    results = get_search_service().search(
        user, request.args.get("q", ""), search_filters(), search_sort(), page, per_page
    )
    if results.window_exceeded:
        raise BadRequest(results.message)
    snippets = {hit.bid_id: hit.snippet for hit in results.items}
    items = []
    for bid in visible_bids_in_order(user, results.bid_ids):
        item = bid_item(bid)
        item["highlights"] = [str(snippets[bid.id])] if snippets.get(bid.id) else []
        items.append(item)
    body = {
        "items": items,
        "total": results.total,
        "page": page,
        "per_page": per_page,
        "sort": results.sort,
        "facets": {
            name: [{"value": f.value, "count": f.count} for f in values]
            for name, values in results.facets.items()
        },
    }
    if results.message:
        body["notice"] = results.message
    if results.corrected_query:
        body["did_you_mean"] = results.corrected_query
    response = jsonify(body)
    response.headers["Link"] = page_links(page, per_page, results.total)
    return response


@bp.get("/export.csv")
def export_csv():
    return export_response(api_user(), "csv")


@bp.get("/export.json")
def export_json():
    return export_response(api_user(), "json")


def _param(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
    }


SEARCH_PARAMETERS = [
    _param(
        "q",
        'Search words, "phrases", AND/OR/NOT, field:value (funder:, status:, year:, '
        "theme:, location:, organisation:, programme:, title:), trailing wildcards.",
    ),
    _param("funder", "Funder's name (any case), org-id or slug."),
    _param("organisation", "Applicant's name (any case), org-id or slug."),
    _param("identifier", "Exact bid identifier."),
    _param(
        "status",
        "Bid status (repeat for any of several).",
        {"type": "string", "enum": [s.value for s in BidStatus]},
    ),
    _param(
        "year",
        "Year submitted (repeat for any of several).",
        {"type": "integer", "minimum": 1000, "maximum": 9998},
    ),
    _param("theme", "Theme, exactly as listed in the facets (repeatable)."),
    _param("location", "Location, exactly as listed in the facets (repeatable)."),
    _param(
        "band",
        "Amount band (repeatable).",
        {"type": "string", "enum": [key for key, _, _ in BANDS]},
    ),
    _param(
        "min_amount",
        "Smallest amount (awarded, else requested), in currency units.",
        {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT},
    ),
    _param(
        "max_amount",
        "Largest amount (awarded, else requested), in currency units.",
        {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT},
    ),
    _param(
        "sort", "Order of results.", {"type": "string", "enum": ["relevance", "newest", "amount"]}
    ),
]
openapi.add_tag("search", "Full-text search and exports.")
# `GET /bids` answers a search when any of SEARCH_PARAMS is given: it takes all of these.
openapi.add_operation_parameters("/bids", "get", SEARCH_PARAMETERS)
openapi.add_paths(
    {
        "/export.csv": {
            "get": {
                "tags": ["search"],
                "operationId": "exportCsv",
                "summary": "Every bid matching the search, as CSV (streamed)",
                "security": [{}, {"bearerAuth": []}],
                "parameters": SEARCH_PARAMETERS,
                "responses": {
                    "200": {
                        "description": "CSV, one row per bid.",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **error_responses(400, 401, 429),
                },
            }
        },
        "/export.json": {
            "get": {
                "tags": ["search"],
                "operationId": "exportJson",
                "summary": "Every bid matching the search, as JSON (streamed)",
                "security": [{}, {"bearerAuth": []}],
                "parameters": SEARCH_PARAMETERS,
                "responses": {
                    "200": {
                        "description": '`{"items": [...]}` in result order.',
                        "content": json_content({"type": "object"}),
                    },
                    **error_responses(400, 401, 429),
                },
            }
        },
    }
)
