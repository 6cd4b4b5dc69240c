"""Insights, the network map and organisation profiles over the API."""

from __future__ import annotations

from flask import jsonify, request

from bids.database import db
from bids.errors import NotFound
from bids.models import Organisation
from portal.api import bp, openapi
from portal.api.openapi import error_responses, json_content
from portal.api.search_api import SEARCH_PARAMETERS
from portal.insights.figures import figures_for, min_decided
from portal.network.routes import MAX_COMMUNITY
from search_index import fellows
from search_index.field_graph import node_link

MAX_ID = 2**63 - 1


@bp.get("/insights")
def insights():
    q, _, figures = figures_for(request.args)
    return jsonify({"query": q, **figures})


@bp.get("/network")
def network():
    from portal.network.routes import selected_graph

    _, graph, community_of, _ = selected_graph()
    return jsonify(node_link(graph, community_of))


@bp.get("/organisations/<int:org_id>/profile")
def organisation_profile(org_id: int):
    org = db.session.get(Organisation, org_id) if org_id <= MAX_ID else None
    if org is None:
        raise NotFound("No such organisation.")
    return jsonify(fellows.remembered_profile(org, min_decided=min_decided()))


_FILTERS = [
    p
    for p in SEARCH_PARAMETERS
    if p["name"] not in ("sort", "organisation", "identifier", "funder")
]
_FILTERS.append(
    {
        "name": "funder",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Funder's name, exactly as listed in the facets (repeatable).",
    }
)
openapi.add_tag("insights", "Figures, the network map and profiles of the field.")
openapi.add_paths(
    {
        "/insights": {
            "get": {
                "tags": ["insights"],
                "operationId": "insights",
                "summary": "The numbers behind every insights chart, for the public bids "
                "matching a search",
                "description": "Totals and amounts per currency (never summed across "
                "currencies), bids "
                "per year by outcome (year = submitted, else decided), success rates "
                "(awarded / decided; null below `min_decided` decided bids) by funder, "
                "programme and year, amounts requested in log-scaled bins, top themes, "
                "locations, funders and organisations, typical award by funder.",
                "parameters": _FILTERS,
                "responses": {
                    "200": {"description": "Figures", "content": json_content({"type": "object"})},
                    **error_responses(400, 429),
                },
            }
        },
        "/network": {
            "get": {
                "tags": ["insights"],
                "operationId": "network",
                "summary": "The network of organisations (node-link JSON) for the bids "
                "matching a search",
                "parameters": [
                    *_FILTERS,
                    {
                        "name": "community",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COMMUNITY},
                        "description": "Only this community's members (404 when there is no "
                        "such community).",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "networkx node-link JSON: `nodes` (id, name, "
                        "slug, kind, community, bids_sent, "
                        "bids_received) and `links` (source, target, "
                        "weight, overlap, pairs, applied, lineage)",
                        "content": json_content({"type": "object"}),
                    },
                    **error_responses(400, 404, 429),
                },
            }
        },
        "/organisations/{org_id}/profile": {
            "get": {
                "tags": ["insights"],
                "operationId": "organisationProfile",
                "summary": "An organisation's figures as applicant and funder, fellow travellers, "
                "co-funders and community",
                "parameters": [
                    {
                        "name": "org_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": {"description": "Profile", "content": json_content({"type": "object"})},
                    **error_responses(404, 429),
                },
            }
        },
    }
)
