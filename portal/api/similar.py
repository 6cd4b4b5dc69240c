"""Overlapping bids over the API: `GET /bids/<id>/similar` and `POST /similar`."""

from __future__ import annotations

from flask import current_app, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from bids.access import get_visible_bid
from bids.attachments import read_pdf_upload
from bids.errors import ValidationError
from bids.serialize import bid_item
from portal.api import bp, openapi
from portal.api.auth import api_user, rate_limit_key
from portal.api.openapi import error_responses, json_content
from portal.extensions import limiter
from search_index import similarity

MAX_LIMIT = 50


def similar_rate_limit() -> str:
    return current_app.config["RATELIMIT_SIMILAR"]


def _limit(value, default: int = 10) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest("`limit` must be a whole number.") from None
    if not 1 <= number <= MAX_LIMIT:
        raise BadRequest(f"`limit` must be between 1 and {MAX_LIMIT}.")
    return number


def match_item(match: similarity.Match) -> dict:
    item = {
        "bid": bid_item(match.bid),
        "score": match.score,
        "relation": match.relation_label,
        "shared_terms": match.shared_terms,
    }
    if match.passages_shared is not None:
        item["passages_shared"] = match.passages_shared
    return item


@bp.get("/bids/<int:bid_id>/similar")
@limiter.limit(similar_rate_limit, key_func=rate_limit_key)
def similar_bids(bid_id: int):
    user = api_user()
    bid = get_visible_bid(user, bid_id)
    matches = similarity.similar_to_bid(user, bid, limit=_limit(request.args.get("limit")))
    return jsonify({"items": [match_item(m) for m in matches]})


@bp.post("/similar")
@limiter.limit(similar_rate_limit, key_func=rate_limit_key)
def similar_to_text():
    user = api_user()
    if request.files.get("file"):
        extracted = read_pdf_upload(request.files["file"])
        if not extracted.ok:
            raise ValidationError({"file": extracted.message})
        text, title, limit = (
            extracted.text,
            request.form.get("title", ""),
            request.form.get("limit"),
        )
    elif request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        text, title, limit = data.get("text"), data.get("title") or "", data.get("limit")
        if not isinstance(text, str) or not isinstance(title, str):
            raise ValidationError({"text": "Send the draft's text as a string."})
    else:
        raise UnsupportedMediaType('Send JSON `{"text": ...}` or a multipart `file` (PDF).')
    problem = similarity.check_text_length(text)
    if problem:
        raise ValidationError({"text": problem})
    matches = similarity.similar_to_text(user, text, title=title, limit=_limit(limit))
    return jsonify({"items": [match_item(m) for m in matches]})


_ITEM = {
    "type": "object",
    "properties": {
        "bid": {"$ref": "#/components/schemas/BidItem"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "relation": {"type": "string", "enum": list(similarity.RELATION_LABELS.values())},
        "shared_terms": {"type": "array", "items": {"type": "string"}},
        "passages_shared": {
            "type": "number",
            "description": "near-duplicates only: share of "
            "the query's 5-word passages found in this bid",
        },
    },
}
_LIST = {
    "200": {
        "description": "Overlapping bids, best first",
        "content": json_content(
            {"type": "object", "properties": {"items": {"type": "array", "items": _ITEM}}}
        ),
    }
}

openapi.add_paths(
    {
        "/bids/{bid_id}/similar": {
            "get": {
                "summary": "Bids overlapping this one (never itself; only bids you may see)",
                "parameters": [
                    {
                        "name": "bid_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": 10,
                        },
                    },
                ],
                "responses": {**_LIST, **error_responses(400, 404, 429)},
            }
        },
        "/similar": {
            "post": {
                "summary": "Bids overlapping a draft's text or PDF (nothing is stored)",
                "requestBody": {
                    "content": {
                        **json_content(
                            {
                                "type": "object",
                                "required": ["text"],
                                "properties": {
                                    "text": {
                                        "type": "string",
                                        "maxLength": similarity.MAX_CHARS,
                                        "description": f"at least {similarity.MIN_WORDS} words",
                                    },
                                    "title": {"type": "string"},
                                    "limit": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "maximum": MAX_LIMIT,
                                    },
                                },
                            }
                        ),
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "title": {"type": "string"},
                                    "limit": {"type": "integer"},
                                },
                            }
                        },
                    }
                },
                "responses": {**_LIST, **error_responses(400, 413, 415, 422, 429)},
            }
        },
    }
)
