"""Search over the API: ranked `GET /bids?q=...` and streamed exports of exactly the filtered results."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from flask import Response, jsonify, request, stream_with_context
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest

from bids.access import can_view
from bids.database import db
from bids.models import Bid, BidStatus, Organisation
from bids.serialize import bid_item, iso_date, money_number
from portal.api import bp, openapi, page_links
from portal.api.auth import api_user
from portal.api.openapi import error_responses, json_content
from search_index.service import BANDS, Filters, filters_from_args, get_search_service

# `GET /bids` answers from the index when any of these is given.
SEARCH_PARAMS = ("q", "theme", "location", "min_amount", "max_amount", "sort", "band")
EXPORT_CHUNK = 500
CSV_COLUMNS = ("id", "identifier", "title", "summary", "organisation", "organisation_identifier",
               "funder", "funder_identifier", "programme", "amount_requested", "amount_awarded",
               "currency", "status", "submitted_on", "decided_on", "themes", "locations", "url")


def wants_search() -> bool:
    return any(request.args.get(name) not in (None, "") for name in SEARCH_PARAMS)


def _organisations_named(value: str) -> list[Organisation]:
    value = value.strip()
    return list(db.session.scalars(select(Organisation).where(or_(
        func.lower(Organisation.name) == value.lower(),
        func.upper(Organisation.org_identifier) == value.upper(),
        Organisation.slug == value.lower(),
    ))))


def request_filters() -> Filters:
    """The search filters of this request, with `GET /bids`' own filters; 400 on bad values."""
    try:
        filters = filters_from_args(request.args, strict=True)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if request.args.get("funder"):
        # Funders are named, identified or slugged as in `GET /bids`; the index knows names.
        names = [org.name for org in _organisations_named(request.args["funder"])]
        filters.funder = names or [request.args["funder"].strip()]
    if request.args.get("organisation"):
        filters.organisation_ids = {o.id for o in _organisations_named(request.args["organisation"])}
    if request.args.get("identifier"):
        bid_id = db.session.scalar(select(Bid.id).where(
            Bid.identifier == request.args["identifier"].strip()))
        filters.bid_ids = {bid_id} if bid_id is not None else set()
    return filters


def _sort() -> str:
    sort = request.args.get("sort") or "relevance"
    if sort not in ("relevance", "newest", "amount"):
        raise BadRequest("`sort` must be relevance, newest or amount.")
    return sort


def _visible_bids_in_order(user, ids: list[int]) -> list[Bid]:
    """Load bids by id keeping the ranking; the database has the last word on visibility."""
    if not ids:
        return []
    found = {bid.id: bid for bid in db.session.scalars(
        select(Bid).where(Bid.id.in_(ids)).options(
            selectinload(Bid.organisation), selectinload(Bid.funder))
    )}
    return [found[i] for i in ids if i in found and can_view(user, found[i])]


def search_bids_response(page: int, per_page: int):
    """`GET /bids` with search parameters: ranked items with highlights and facet counts."""
    user = api_user()
    results = get_search_service().search(
        user, request.args.get("q", ""), request_filters(), _sort(), page, per_page)
    snippets = {hit.bid_id: hit.snippet for hit in results.items}
    items = []
    for bid in _visible_bids_in_order(user, results.bid_ids):
        item = bid_item(bid)
        item["highlights"] = [str(snippets[bid.id])] if snippets.get(bid.id) else []
        items.append(item)
    body = {
        "items": items, "total": results.total, "page": page, "per_page": per_page,
        "sort": results.sort,
        "facets": {name: [{"value": f.value, "count": f.count} for f in values]
                   for name, values in results.facets.items()},
    }
    if results.fell_back:
        body["notice"] = results.message
    if results.corrected_query:
        body["did_you_mean"] = results.corrected_query
    response = jsonify(body)
    response.headers["Link"] = page_links(page, per_page, results.total)
    return response


def _export_bids(user) -> Iterator[Bid]:
    if user is not None:
        user.organisation_ids()  # loaded now: the stream expunges the session as it goes
    ids = get_search_service().iter_bid_ids(
        user, request.args.get("q", ""), request_filters(), _sort(), chunk=EXPORT_CHUNK)

    def generate() -> Iterator[Bid]:
        chunk: list[int] = []
        for bid_id in ids:
            chunk.append(bid_id)
            if len(chunk) == EXPORT_CHUNK:
                yield from _visible_bids_in_order(user, chunk)
                db.session.expunge_all()  # keep memory flat over the whole corpus
                chunk = []
        yield from _visible_bids_in_order(user, chunk)

    return generate()


def _csv_row(bid: Bid) -> list:
    item = bid_item(bid)
    return [
        bid.id, bid.identifier, bid.title, bid.summary,
        bid.organisation.name if bid.organisation else "",
        bid.organisation.org_identifier if bid.organisation else "",
        bid.funder.name if bid.funder else "", bid.funder.org_identifier if bid.funder else "",
        bid.programme, money_number(bid.amount_requested), money_number(bid.amount_awarded),
        bid.currency, bid.status, iso_date(bid.submitted_on), iso_date(bid.decided_on),
        "; ".join(bid.themes or []), "; ".join(bid.locations or []), item["url"],
    ]


def _safe_cell(value) -> object:
    """Spreadsheets run cells starting with = + - @ as formulas: neutralise them."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_lines(bids: Iterable[Bid]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()  # a BOM so spreadsheet programs read UTF-8
    for n, bid in enumerate(bids, start=1):
        writer.writerow([_safe_cell(v) for v in _csv_row(bid)])
        if n % 200 == 0:
            yield flush()
    yield flush()


def _json_chunks(bids: Iterable[Bid]) -> Iterator[str]:
    yield '{"items": ['
    for n, bid in enumerate(bids):
        item = bid_item(bid)
        item["themes"], item["locations"] = list(bid.themes or []), list(bid.locations or [])
        yield ("," if n else "") + "\n" + json.dumps(item, ensure_ascii=False)
    yield "\n]}\n"


def export_response(user, fmt: str) -> Response:
    """The search results of this request's parameters that `user` may see, streamed as CSV or
    JSON. The API passes its token's user; the search page its signed-in user, so a member's
    download includes the organisation's drafts as the page does."""
    bids = _export_bids(user)
    if fmt == "csv":
        return Response(stream_with_context(_csv_lines(bids)), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="open-bids.csv"'})
    return Response(stream_with_context(_json_chunks(bids)), mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="open-bids.json"'})


@bp.get("/export.csv")
def export_csv():
    return export_response(api_user(), "csv")


@bp.get("/export.json")
def export_json():
    return export_response(api_user(), "json")


def _param(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}}


SEARCH_PARAMETERS = [
    _param("q", 'Search words, "phrases", AND/OR/NOT, field:value (funder:, status:, year:, '
                "theme:, location:, organisation:, programme:, title:), trailing wildcards."),
    _param("funder", "Funder's name (any case), org-id or slug."),
    _param("organisation", "Applicant's name (any case), org-id or slug."),
    _param("identifier", "Exact bid identifier."),
    _param("status", "Bid status (repeat for any of several).",
           {"type": "string", "enum": [s.value for s in BidStatus]}),
    _param("year", "Year submitted (repeat for any of several).", {"type": "integer"}),
    _param("theme", "Theme, exactly as listed in the facets (repeatable)."),
    _param("location", "Location, exactly as listed in the facets (repeatable)."),
    _param("band", "Amount band (repeatable).",
           {"type": "string", "enum": [key for key, _, _ in BANDS]}),
    _param("min_amount", "Smallest amount (awarded, else requested), in currency units.",
           {"type": "number"}),
    _param("max_amount", "Largest amount (awarded, else requested), in currency units.",
           {"type": "number"}),
    _param("sort", "Order of results.", {"type": "string",
                                         "enum": ["relevance", "newest", "amount"]}),
]
openapi.add_tag("search", "Full-text search and exports.")
# `GET /bids` answers a search when any of SEARCH_PARAMS is given: it takes all of these.
openapi.add_operation_parameters("/bids", "get", SEARCH_PARAMETERS)
openapi.add_paths({
    "/export.csv": {"get": {
        "tags": ["search"], "operationId": "exportCsv",
        "summary": "Every bid matching the search, as CSV (streamed)",
        "security": [{}, {"bearerAuth": []}],
        "parameters": SEARCH_PARAMETERS,
        "responses": {"200": {"description": "CSV, one row per bid.",
                              "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **error_responses(400, 401, 429)},
    }},
    "/export.json": {"get": {
        "tags": ["search"], "operationId": "exportJson",
        "summary": "Every bid matching the search, as JSON (streamed)",
        "security": [{}, {"bearerAuth": []}],
        "parameters": SEARCH_PARAMETERS,
        "responses": {"200": {"description": "`{\"items\": [...]}` in result order.",
                              "content": json_content({"type": "object"})},
                      **error_responses(400, 401, 429)},
    }},
})
