"""API v1 bids: list, read, publish and revise bids, upload their PDFs. Thin views over `bids.*`."""

from __future__ import annotations

from datetime import UTC

from flask import jsonify, request, url_for
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from bids.access import get_editable_bid, get_visible_bid
from bids.attachments import NotAPdf, UploadTooLarge, add_attachment
from bids.errors import ValidationError
from bids.listing import filtered_bids
from bids.models import Bid, BidStatus, User
from bids.publishing import create_bid, update_bid
from bids.serialize import attachment_item, attachment_url, bid_detail, bid_item
from portal.api import bp, openapi, page_links
from portal.api.auth import api_user, require_user, token_required
from portal.api.bid_input import (
    api_names,
    bid_fields,
    clean_organisation,
    is_organisation,
    json_object,
    own_organisation,
)
from portal.api.openapi import error_responses, json_content, ref
from portal.pagination import api_page, collection, int_arg
from portal.views import commit_or_errors


def _bid_response(bid: Bid, status: int = 200):
    response = jsonify(bid_detail(bid))
    response.status_code = status
    response.last_modified = bid.updated_at.replace(tzinfo=UTC) if bid.updated_at else None
    return response


def _status_arg() -> str | None:
    if not request.args.get("status"):
        return None
    status = request.args["status"].strip().lower()
    if status not in {s.value for s in BidStatus}:
        raise BadRequest(f"`status` must be one of {', '.join(s.value for s in BidStatus)}.")
    return status


def bid_list_query(user: User | None):
    """The caller's visible bids with the request's filters; raises BadRequest for bad ones."""
    args = request.args
    return filtered_bids(
        user,
        identifier=args.get("identifier"),
        organisation=args.get("organisation"),
        funder=args.get("funder"),
        status=_status_arg(),
        year=int_arg("year", 0, 1000, 9998) if args.get("year") else None,
    )


ENUM_PARAMS = ("status", "sort", "band")


@bp.get("/bids")
def list_bids():
    user = api_user()
    for name in ENUM_PARAMS:
        if name in request.args and not request.args[name].strip():
            raise BadRequest(f"`{name}` is empty: give one of its values or leave it out.")
    page, per_page = api_page()
    from portal.api import search_api  # a search: ranked by the index, with facets

    if search_api.wants_search():
        return search_api.search_bids_response(page, per_page)
    body = collection(bid_list_query(user), bid_item)
    response = jsonify(body)
    response.headers["Link"] = page_links(body["page"], body["per_page"], body["total"])
    return response


@bp.get("/bids/<int:bid_id>")
def get_bid(bid_id: int):
    return _bid_response(get_visible_bid(api_user(), bid_id))


@bp.post("/bids")
@token_required
def create_bid_view():
    user = require_user()
    data = json_object()
    fields = bid_fields(data, allowed_extra={"organisation"})
    organisation = own_organisation(user, data.get("organisation"))
    try:
        with commit_or_errors():
            bid = create_bid(user, organisation, fields)
    except ValidationError as exc:
        raise api_names(exc) from None
    response = _bid_response(bid, 201)
    response.headers["Location"] = url_for("api.get_bid", bid_id=bid.id, _external=True)
    return response


@bp.patch("/bids/<int:bid_id>")
@token_required
def update_bid_view(bid_id: int):
    user = require_user()
    bid = get_editable_bid(user, bid_id)
    data = json_object()
    fields = bid_fields(data, allowed_extra={"organisation", "note"})
    if "organisation" in data and not is_organisation(
        bid.organisation, clean_organisation(data["organisation"])
    ):
        raise ValidationError({"organisation": "A bid's organisation cannot be changed."})
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 300:
        raise ValidationError({"note": "The revision note is a text of at most 300 characters."})
    try:
        with commit_or_errors():
            update_bid(user, bid, fields, note=note.strip())
    except ValidationError as exc:
        raise api_names(exc) from None
    return _bid_response(bid)


@bp.post("/bids/<int:bid_id>/attachments")
@token_required
def upload_attachment(bid_id: int):
    user = require_user()
    bid = get_editable_bid(user, bid_id)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send the PDF as multipart/form-data in a field named `file`.")
    upload = request.files.get("file")  # a body over MAX_CONTENT_LENGTH raises 413 here
    if upload is None or not upload.filename:
        raise ValidationError({"file": "Send a PDF in the multipart field `file`."})
    try:
        with commit_or_errors():
            attachment = add_attachment(user, bid, upload)
    except NotAPdf as exc:
        raise UnsupportedMediaType(next(iter(exc.errors.values()))) from None
    except UploadTooLarge as exc:
        raise RequestEntityTooLarge(next(iter(exc.errors.values()))) from None
    response = jsonify(attachment_item(attachment))
    response.status_code = 201
    if attachment_url(attachment):
        response.headers["Location"] = attachment_url(attachment)
    return response


# --- OpenAPI description of these routes -------------------------------------------------

_BID_ID = {"name": "bid_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_TOKEN = [{"bearerAuth": []}]
_OPTIONAL_TOKEN = [{}, {"bearerAuth": []}]


def _filter(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
    }


openapi.add_tag("bids", "Read, publish and revise bids.")
openapi.add_tag("meta", "This description.")
openapi.add_paths(
    {
        "/bids": {
            "get": {
                "tags": ["bids"],
                "operationId": "listBids",
                "summary": "List published bids, newest first",
                "description": "With a token, the drafts of the caller's organisations too "
                "(after the published ones).",
                "security": _OPTIONAL_TOKEN,
                "parameters": [
                    ref("parameters", "Page"),
                    ref("parameters", "PerPage"),
                    _filter("identifier", "Exact bid identifier."),
                    _filter("organisation", "Applicant's name (any case), org-id or slug."),
                    _filter("funder", "Funder's name (any case), org-id or slug."),
                    _filter(
                        "status",
                        "Bid status.",
                        {"type": "string", "enum": [s.value for s in BidStatus]},
                    ),
                    _filter(
                        "year",
                        "Year submitted (or decided, when no submission date).",
                        {"type": "integer"},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of bids.",
                        "content": json_content(ref("schemas", "BidList")),
                    },
                    **error_responses(400, 401, 429),
                },
            },
            "post": {
                "tags": ["bids"],
                "operationId": "createBid",
                "summary": "Create a bid (a draft unless visibility is published)",
                "security": _TOKEN,
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {"allOf": [ref("schemas", "BidInput"), {"required": ["title"]}]}
                    ),
                },
                "responses": {
                    "201": {
                        "description": "Created; `Location` is its API address.",
                        "content": json_content(ref("schemas", "BidDetail")),
                    },
                    **error_responses(400, 401, 403, 415, 422, 429),
                },
            },
        },
        "/bids/{bid_id}": {
            "get": {
                "tags": ["bids"],
                "operationId": "getBid",
                "summary": "One bid with its text, attachments and revisions",
                "security": _OPTIONAL_TOKEN,
                "parameters": [_BID_ID],
                "responses": {
                    "200": {
                        "description": "The bid.",
                        "content": json_content(ref("schemas", "BidDetail")),
                    },
                    **error_responses(401, 404, 429),
                },
            },
            "patch": {
                "tags": ["bids"],
                "operationId": "updateBid",
                "summary": "Change any fields of a bid (a published bid gets a new revision)",
                "security": _TOKEN,
                "parameters": [_BID_ID],
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "allOf": [
                                ref("schemas", "BidInput"),
                                {
                                    "properties": {
                                        "note": {
                                            "type": "string",
                                            "maxLength": 300,
                                            "description": "Note for the new revision.",
                                        }
                                    }
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "The changed bid.",
                        "content": json_content(ref("schemas", "BidDetail")),
                    },
                    **error_responses(400, 401, 403, 404, 415, 422, 429),
                },
            },
        },
        "/bids/{bid_id}/attachments": {
            "post": {
                "tags": ["bids"],
                "operationId": "addAttachment",
                "summary": "Attach a PDF to a bid (its text is extracted)",
                "security": _TOKEN,
                "parameters": [_BID_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "contentMediaType": "application/pdf",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Stored; `Location` is its download link.",
                        "content": json_content(ref("schemas", "Attachment")),
                    },
                    **error_responses(401, 403, 404, 413, 415, 422, 429),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "tags": ["meta"],
                "operationId": "openapi",
                "summary": "This OpenAPI 3.1 document",
                "responses": {
                    "200": {
                        "description": "The document.",
                        "content": json_content({"type": "object"}),
                    }
                },
            },
        },
        "/": {
            "get": {
                "tags": ["meta"],
                "operationId": "docs",
                "summary": "A page for people listing the endpoints",
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            },
        },
    }
)
