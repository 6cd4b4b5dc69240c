"""Downloads of search results, CSV or JSON, streamed; and the search parameters they read.

The search page (`/search/export.*`, signed-in user) and the API (`/api/v1/export.*`, token
user) both answer with `export_response`, so the two give the same rows for the same query.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from flask import Response, request, stream_with_context
from werkzeug.exceptions import BadRequest

from bids.database import db
from bids.listing import bid_id_with_identifier, organisations_named, visible_bids_in_order
from bids.models import Bid
from bids.serialize import bid_item, iso_date, money_number
from search_index.filters import SearchFilters, filters_from_args
from search_index.service import get_search_service

EXPORT_CHUNK = 500
CSV_COLUMNS = (
    "id",
    "identifier",
    "title",
    "summary",
    "organisation",
    "organisation_identifier",
    "funder",
    "funder_identifier",
    "programme",
    "amount_requested",
    "amount_awarded",
    "currency",
    "status",
    "submitted_on",
    "decided_on",
    "themes",
    "locations",
    "url",
    "licence",
)


def search_filters() -> SearchFilters:
    """The search filters of this request, with `GET /bids`' own filters; 400 on bad values."""
    try:
        filters = filters_from_args(request.args, strict=True)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if request.args.get("funder"):
        # Funders are named, identified or slugged as in `GET /bids`; the index knows names.
        names = [org.name for org in organisations_named(request.args["funder"])]
        filters.funder = names or [request.args["funder"].strip()]
    if request.args.get("organisation"):
        filters.organisation_ids = {o.id for o in organisations_named(request.args["organisation"])}
    if request.args.get("identifier"):
        bid_id = bid_id_with_identifier(request.args["identifier"])
        filters.bid_ids = {bid_id} if bid_id is not None else set()
    return filters


def search_sort() -> str:
    sort = request.args.get("sort") or "relevance"
    if sort not in ("relevance", "newest", "amount"):
        raise BadRequest("`sort` must be relevance, newest or amount.")
    return sort


def _export_bids(user) -> Iterator[Bid]:
    if user is not None:
        user.organisation_ids()  # loaded now: the stream expunges the session as it goes
    ids = get_search_service().iter_bid_ids(
        user, request.args.get("q", ""), search_filters(), search_sort(), chunk=EXPORT_CHUNK
    )

    def generate() -> Iterator[Bid]:
        chunk: list[int] = []
        for bid_id in ids:
            chunk.append(bid_id)
            if len(chunk) == EXPORT_CHUNK:
                yield from visible_bids_in_order(user, chunk)
                db.session.expunge_all()  # keep memory flat over the whole corpus
                chunk = []
        yield from visible_bids_in_order(user, chunk)

    return generate()


def _csv_row(bid: Bid) -> list:
    item = bid_item(bid)
    return [
        bid.id,
        bid.identifier,
        bid.title,
        bid.summary,
        bid.organisation.name if bid.organisation else "",
        bid.organisation.org_identifier if bid.organisation else "",
        bid.funder.name if bid.funder else "",
        bid.funder.org_identifier if bid.funder else "",
        bid.programme,
        money_number(bid.amount_requested),
        money_number(bid.amount_awarded),
        bid.currency,
        bid.status,
        iso_date(bid.submitted_on),
        iso_date(bid.decided_on),
        "; ".join(bid.themes or []),
        "; ".join(bid.locations or []),
        item["url"],
        bid.licence or "",
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
        return Response(
            stream_with_context(_csv_lines(bids)),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="open-bids.csv"'},
        )
    return Response(
        stream_with_context(_json_chunks(bids)),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="open-bids.json"'},
    )
