"""API v1: read, publish and revise bids; upload their PDFs. Thin views over `bids.*` services."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import jsonify, render_template, request, url_for
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from bids.access import get_editable_bid, get_visible_bid, visible_bids
from bids.attachments import NotAPdf, UploadTooLarge, add_attachment
from bids.database import db
from bids.errors import Forbidden, ValidationError
from bids.fields import clean_party
from bids.models import Bid, BidStatus, Organisation, User
from bids.publishing import create_bid, update_bid
from bids.serialize import attachment_item, attachment_url, bid_detail, bid_item
from portal.api import bp, openapi
from portal.api.auth import api_user, require_user, token_required
from portal.api.openapi import error_responses, json_content, ref

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20

# API name -> name in bids.fields.clean_bid_fields (`url` there is where the bid came from;
# in the API `url` is the permalink, so the source is called `source_url`).
WRITABLE = {
    "identifier": "identifier", "title": "title", "summary": "summary", "body": "body",
    "funder": "funder", "programme": "programme", "amount_requested": "amount_requested",
    "amount_awarded": "amount_awarded", "currency": "currency",
    "duration_months": "duration_months", "submitted_on": "submitted_on",
    "decided_on": "decided_on", "status": "status", "visibility": "visibility",
    "themes": "themes", "locations": "locations", "licence": "licence", "source_url": "url",
}
# Output-only fields: ignored on input so that a fetched bid can be edited and sent back.
READ_ONLY = {"id", "url", "text", "attachments", "revisions", "created_at", "updated_at",
             "published_at"}


# --- Helpers -------------------------------------------------------------------------------

def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"`{name}` must be a whole number.") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"`{name}` must be {bounds}.")
    return value


def _json_object() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON object with `Content-Type: application/json`.")
    try:
        data = request.get_json()
    except BadRequest:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _bid_fields(data: dict[str, Any], *, allowed_extra: set[str]) -> dict[str, Any]:
    """API names to `clean_bid_fields` names; unknown names are a 422, read-only ones ignored."""
    unknown = sorted(k for k in data if k not in WRITABLE and k not in READ_ONLY
                     and k not in allowed_extra)
    if unknown:
        raise ValidationError({k: "Unknown field." for k in unknown})
    return {WRITABLE[k]: v for k, v in data.items() if k in WRITABLE}


def _api_names(exc: ValidationError) -> ValidationError:
    """The same errors under the API's field names."""
    renamed = {("source_url" if k == "url" else k): v for k, v in exc.errors.items()}
    return ValidationError(renamed)


def _matches(org: Organisation, party: dict[str, str | None]) -> bool:
    if party["identifier"] and org.org_identifier:
        return org.org_identifier.upper() == party["identifier"].upper()
    return org.name.casefold() == party["name"].casefold()


def _clean_organisation(value: Any) -> dict[str, str | None]:
    try:
        party = clean_party(value, "Organisation")
    except ValidationError as exc:
        raise ValidationError({"organisation": next(iter(exc.errors.values()))}) from None
    if party is None:
        raise ValidationError({"organisation": "Name the organisation publishing the bid."})
    return party


def _own_organisation(user: User, value: Any) -> Organisation:
    """One of the user's organisations; 403 for any other (whether it exists or not)."""
    organisations = [m.organisation for m in user.memberships]
    if value is None or value == "":
        if len(organisations) == 1:
            return organisations[0]
        if not organisations:
            raise Forbidden("Your account belongs to no organisation, so it cannot publish bids.")
        raise ValidationError(
            {"organisation": "You belong to several organisations: say which one publishes this."}
        )
    party = _clean_organisation(value)
    for org in organisations:
        if _matches(org, party):
            return org
    raise Forbidden("You can only publish bids for organisations you are a member of.")


def _bid_response(bid: Bid, status: int = 200):
    response = jsonify(bid_detail(bid))
    response.status_code = status
    return response


def _in_year(year: int):
    """Year of submitted_on, else of decided_on (never published_at, see `Bid.year`); date
    ranges so indexes and PostgreSQL work."""
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return or_(
        and_(Bid.submitted_on >= start, Bid.submitted_on < end),
        and_(Bid.submitted_on.is_(None), Bid.decided_on >= start, Bid.decided_on < end),
    )


def _organisation_ids(value: str):
    """Organisations known by this name (any case), org-id or slug."""
    value = value.strip()
    return select(Organisation.id).where(
        or_(
            func.lower(Organisation.name) == value.lower(),
            func.upper(Organisation.org_identifier) == value.upper(),
            Organisation.slug == value.lower(),
        )
    )


def bid_list_query(user: User | None):
    """The caller's visible bids with the request's filters; raises BadRequest for bad ones."""
    query = visible_bids(user)
    args = request.args
    if args.get("identifier"):
        query = query.where(Bid.identifier == args["identifier"].strip())
    if args.get("organisation"):
        query = query.where(Bid.organisation_id.in_(_organisation_ids(args["organisation"])))
    if args.get("funder"):
        query = query.where(Bid.funder_id.in_(_organisation_ids(args["funder"])))
    if args.get("status"):
        status = args["status"].strip().lower()
        if status not in {s.value for s in BidStatus}:
            raise BadRequest(f"`status` must be one of {', '.join(s.value for s in BidStatus)}.")
        query = query.where(Bid.status == status)
    if args.get("year"):
        query = query.where(_in_year(_int_arg("year", 0, 1000, 9998)))
    return query


# --- Routes --------------------------------------------------------------------------------

@bp.get("/bids")
def list_bids():
    user = api_user()
    page = _int_arg("page", 1, 1)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    from portal.api import search_api  # a search: ranked by the index, with facets

    if search_api.wants_search():
        return search_api.search_bids_response(page, per_page)
    query = bid_list_query(user)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    # Newest published first; drafts (no published_at) last on every database.
    unpublished_last = Bid.published_at.is_(None)
    bids = db.session.scalars(
        query.options(selectinload(Bid.organisation), selectinload(Bid.funder))
        .order_by(unpublished_last, Bid.published_at.desc(), Bid.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return jsonify(
        {"items": [bid_item(b) for b in bids], "total": total, "page": page, "per_page": per_page}
    )


@bp.get("/bids/<int:bid_id>")
def get_bid(bid_id: int):
    return _bid_response(get_visible_bid(api_user(), bid_id))


@bp.post("/bids")
@token_required
def create_bid_view():
    user = require_user()
    data = _json_object()
    fields = _bid_fields(data, allowed_extra={"organisation"})
    organisation = _own_organisation(user, data.get("organisation"))
    try:
        bid = create_bid(user, organisation, fields)
    except ValidationError as exc:
        raise _api_names(exc) from None
    db.session.commit()
    response = _bid_response(bid, 201)
    response.headers["Location"] = url_for("api.get_bid", bid_id=bid.id, _external=True)
    return response


@bp.patch("/bids/<int:bid_id>")
@token_required
def update_bid_view(bid_id: int):
    user = require_user()
    bid = get_editable_bid(user, bid_id)
    data = _json_object()
    fields = _bid_fields(data, allowed_extra={"organisation", "note"})
    if "organisation" in data and not _matches(bid.organisation,
                                                 _clean_organisation(data["organisation"])):
        raise ValidationError({"organisation": "A bid's organisation cannot be changed."})
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 300:
        raise ValidationError({"note": "The revision note is a text of at most 300 characters."})
    try:
        update_bid(user, bid, fields, note=note.strip())
    except ValidationError as exc:
        raise _api_names(exc) from None
    db.session.commit()
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
        attachment = add_attachment(user, bid, upload)
    except NotAPdf as exc:
        raise UnsupportedMediaType(next(iter(exc.errors.values()))) from None
    except UploadTooLarge as exc:
        raise RequestEntityTooLarge(next(iter(exc.errors.values()))) from None
    db.session.commit()
    response = jsonify(attachment_item(attachment))
    response.status_code = 201
    if attachment_url(attachment):
        response.headers["Location"] = attachment_url(attachment)
    return response


@bp.get("/openapi.json", endpoint="openapi")
def openapi_document():
    return jsonify(openapi.build_document(url_for("api.docs", _external=True).rstrip("/")))


def _token_need(operation: dict) -> str:
    security = operation.get("security") or []
    if not security:
        return "no"
    return "optional" if {} in security else "required"


@bp.get("/")
def docs():
    """Every described endpoint, grouped by tag (untagged ones under "other")."""
    document = openapi.build_document(url_for("api.docs", _external=True).rstrip("/"))
    descriptions = {tag["name"]: tag["description"] for tag in document["tags"]}
    groups: dict[str, list[dict]] = {name: [] for name in descriptions}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(
                {"method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                 "token": _token_need(operation)}
            )
    sections = [{"name": name, "description": descriptions.get(name, ""), "endpoints": endpoints}
                for name, endpoints in groups.items() if endpoints]
    return render_template("api/index.html", document=document, sections=sections)


# --- OpenAPI description of these routes -------------------------------------------------

_BID_ID = {"name": "bid_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_TOKEN = [{"bearerAuth": []}]
_OPTIONAL_TOKEN = [{}, {"bearerAuth": []}]


def _filter(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}}


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
                    ref("parameters", "Page"), ref("parameters", "PerPage"),
                    _filter("identifier", "Exact bid identifier."),
                    _filter("organisation", "Applicant's name (any case), org-id or slug."),
                    _filter("funder", "Funder's name (any case), org-id or slug."),
                    _filter("status", "Bid status.",
                            {"type": "string", "enum": [s.value for s in BidStatus]}),
                    _filter("year", "Year submitted (or decided, when no submission date).",
                            {"type": "integer"}),
                ],
                "responses": {
                    "200": {"description": "A page of bids.",
                            "content": json_content(ref("schemas", "BidList"))},
                    **error_responses(400, 401, 429),
                },
            },
            "post": {
                "tags": ["bids"],
                "operationId": "createBid",
                "summary": "Create a bid (a draft unless visibility is published)",
                "security": _TOKEN,
                "requestBody": {"required": True, "content": json_content(
                    {"allOf": [ref("schemas", "BidInput"), {"required": ["title"]}]})},
                "responses": {
                    "201": {"description": "Created; `Location` is its API address.",
                            "content": json_content(ref("schemas", "BidDetail"))},
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
                    "200": {"description": "The bid.",
                            "content": json_content(ref("schemas", "BidDetail"))},
                    **error_responses(401, 404, 429),
                },
            },
            "patch": {
                "tags": ["bids"],
                "operationId": "updateBid",
                "summary": "Change any fields of a bid (a published bid gets a new revision)",
                "security": _TOKEN,
                "parameters": [_BID_ID],
                "requestBody": {"required": True, "content": json_content({"allOf": [
                    ref("schemas", "BidInput"),
                    {"properties": {"note": {"type": "string", "maxLength": 300,
                                             "description": "Note for the new revision."}}},
                ]})},
                "responses": {
                    "200": {"description": "The changed bid.",
                            "content": json_content(ref("schemas", "BidDetail"))},
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
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "contentMediaType": "application/pdf"}}}}}},
                "responses": {
                    "201": {"description": "Stored; `Location` is its download link.",
                            "content": json_content(ref("schemas", "Attachment"))},
                    **error_responses(401, 403, 404, 413, 415, 422, 429),
                },
            },
        },
        "/openapi.json": {
            "get": {"tags": ["meta"], "operationId": "openapi",
                    "summary": "This OpenAPI 3.1 document",
                    "responses": {"200": {"description": "The document.",
                                          "content": json_content({"type": "object"})}}},
        },
        "/": {
            "get": {"tags": ["meta"], "operationId": "docs",
                    "summary": "A page for people listing the endpoints",
                    "responses": {"200": {"description": "HTML.", "content": {
                        "text/html": {"schema": {"type": "string"}}}}}},
        },
    }
)
