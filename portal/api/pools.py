"""Pool API: a member's opportunities, pledging and withdrawing (bearer token; 404 for
non-members)."""

from __future__ import annotations

from flask import jsonify, request

from bids.errors import ValidationError
from bids.models import from_minor
from bids.pools import services
from bids.pools.access import get_member_pool
from bids.pools.opportunities import Filters, all_opportunities
from portal.api import bp, openapi
from portal.api.auth import require_user, token_required
from portal.views import commit_or_errors


def _money(minor_by_currency: dict[str, int]) -> list[dict]:
    return [
        {"currency": c, "amount": str(from_minor(v))} for c, v in sorted(minor_by_currency.items())
    ]


def _opportunity(item) -> dict:
    return {
        "kind": item.kind,
        "key": item.key,
        "title": item.title,
        "reason": item.reason,
        "score": item.score,
        "cluster_id": item.cluster_id,
        "key_terms": item.key_terms,
        "score_parts": [
            {"label": p.label, "points": p.points, "out_of": p.out_of, "why": p.why}
            for p in item.parts
        ],
        "requested": _money(item.requested_minor),
        "bids": [
            {
                "id": b.id,
                "identifier": b.identifier,
                "title": b.title,
                "status": b.status,
                "organisation": b.organisation.name,
                "funder": b.funder.name if b.funder else None,
                "currency": b.currency,
                "amount_requested": str(b.amount_requested)
                if b.amount_requested is not None
                else None,
            }
            for b in item.bids
        ],
    }


def _pledge(pledge) -> dict:
    return {
        "id": pledge.id,
        "pool_id": pledge.pool_id,
        "organisation": pledge.organisation.name,
        "bid_id": pledge.bid_id,
        "cluster_id": pledge.cluster_id,
        "kind": pledge.kind,
        "amount": str(pledge.amount) if pledge.amount is not None else None,
        "currency": pledge.currency,
        "note": pledge.note,
        "created_at": pledge.created_at.isoformat() + "Z",
        "withdrawn_at": pledge.withdrawn_at.isoformat() + "Z" if pledge.withdrawn_at else None,
    }


@bp.get("/pools/<int:pool_id>/opportunities")
@token_required
def pool_opportunities(pool_id: int):
    pool = get_member_pool(require_user(), pool_id)
    lists = all_opportunities(pool, Filters.from_args(request.args))
    return jsonify(
        {
            "pool": {"id": pool.id, "name": pool.name},
            **{key: [_opportunity(o) for o in items] for key, items in lists.items()},
        }
    )


@bp.post("/pools/<int:pool_id>/pledges")
@token_required
def pool_pledge(pool_id: int):
    user = require_user()
    pool = get_member_pool(user, pool_id)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError(
            {"body": "Send a JSON object: bid_id or cluster_id, amount, currency, note."}
        )
    with commit_or_errors():
        pledge = services.make_pledge(user, pool, data)
    return jsonify(_pledge(pledge)), 201


@bp.delete("/pools/<int:pool_id>/pledges/<int:pledge_id>")
@token_required
def pool_withdraw_pledge(pool_id: int, pledge_id: int):
    user = require_user()
    with commit_or_errors():
        pledge = services.withdraw_pledge(user, get_member_pool(user, pool_id), pledge_id)
    return jsonify(_pledge(pledge))


POOL_ID = {"name": "pool_id", "in": "path", "required": True, "schema": {"type": "integer"}}
PLEDGE = openapi.json_content(
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "pool_id": {"type": "integer"},
            "organisation": {"type": "string"},
            "bid_id": {"type": ["integer", "null"]},
            "cluster_id": {"type": ["integer", "null"]},
            "kind": {"type": "string", "enum": ["interest", "amount"]},
            "amount": {"type": ["string", "null"], "description": "Decimal amount, exact."},
            "currency": {"type": ["string", "null"]},
            "note": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "withdrawn_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
)

openapi.add_tag("pools", "Funders' pools: co-funding opportunities and pledges (members only).")
openapi.add_paths(
    {
        "/pools/{pool_id}/opportunities": {
            "get": {
                "tags": ["pools"],
                "operationId": "poolOpportunities",
                "summary": "Overlap clusters, bids sent to several members, and bids too big "
                "for one member",
                "description": "Each list is ranked by a co-funding score whose parts are given. "
                "Filters: `theme`, `place`, `status`. Non-members get 404.",
                "security": [{"bearerAuth": []}],
                "parameters": [POOL_ID]
                + [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in ("theme", "place", "status")
                ],
                "responses": {
                    "200": {
                        "description": "The three lists.",
                        "content": openapi.json_content({"type": "object"}),
                    },
                    **openapi.error_responses(401, 404, 429),
                },
            }
        },
        "/pools/{pool_id}/pledges": {
            "post": {
                "tags": ["pools"],
                "operationId": "poolPledge",
                "summary": "Mark interest in, or pledge an amount to, a bid or a cluster",
                "security": [{"bearerAuth": []}],
                "parameters": [POOL_ID],
                "requestBody": {
                    "required": True,
                    "content": openapi.json_content(
                        {
                            "type": "object",
                            "properties": {
                                "bid_id": {"type": "integer"},
                                "cluster_id": {"type": "integer"},
                                "amount": {"type": ["number", "string"]},
                                "currency": {"type": "string", "default": "GBP"},
                                "note": {"type": "string"},
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "The pledge.", "content": PLEDGE},
                    **openapi.error_responses(400, 401, 404, 422, 429),
                },
            }
        },
        "/pools/{pool_id}/pledges/{pledge_id}": {
            "delete": {
                "tags": ["pools"],
                "operationId": "poolWithdrawPledge",
                "summary": "Withdraw one's own organisation's pledge",
                "security": [{"bearerAuth": []}],
                "parameters": [
                    POOL_ID,
                    {
                        "name": "pledge_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {
                    "200": {"description": "The withdrawn pledge.", "content": PLEDGE},
                    **openapi.error_responses(401, 404, 429),
                },
            }
        },
    }
)
