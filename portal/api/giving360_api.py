"""360Giving out: `GET /360giving.json` and `/360giving.csv`, the awarded bids matching the
same query and filters as search, as a 360Giving package (streamed, all of them), and the
all-bids form (`?all=1`) with Open Bids' own fields in the `openBids` extension."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, current_app, request, stream_with_context, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest

from bids.access import can_view
from bids.database import db
from bids.giving360.export import DEFAULT_PREFIX, csv_chunks, grants_of, package_chunks
from bids.models import Bid, BidLink, BidStatus
from bids.serialize import bid_url
from portal.api import bp, openapi
from portal.api.openapi import error_responses, json_content
from portal.api.search_api import SEARCH_PARAMETERS
from portal.exports import search_filters, search_sort
from search_index.service import get_search_service

CHUNK = 500


def _all_bids() -> bool:
    value = request.args.get("all", "0")
    if value not in ("0", "1"):
        raise BadRequest("`all` must be 0 or 1.")
    return value == "1"


def public_bids(all_bids: bool) -> Iterator[Bid]:
    """The public bids matching this request's search, in result order, a chunk at a time."""
    filters = search_filters()
    if not all_bids:
        filters.status = [BidStatus.AWARDED.value]
    ids = get_search_service().iter_bid_ids(
        None, request.args.get("q", ""), filters, search_sort(), chunk=CHUNK
    )

    def load(chunk: list[int]) -> list[Bid]:
        found = {
            bid.id: bid
            for bid in db.session.scalars(
                select(Bid)
                .where(Bid.id.in_(chunk))
                .options(
                    selectinload(Bid.organisation),
                    selectinload(Bid.funder),
                    selectinload(Bid.links).selectinload(BidLink.to_bid),
                )
            )
        }
        return [found[i] for i in chunk if i in found and can_view(None, found[i])]

    def generate() -> Iterator[Bid]:
        chunk: list[int] = []
        for bid_id in ids:
            chunk.append(bid_id)
            if len(chunk) == CHUNK:
                yield from load(chunk)
                db.session.expunge_all()  # memory stays flat over the whole corpus
                chunk = []
        yield from load(chunk)

    return generate()


def publisher() -> dict[str, str]:
    config = current_app.config
    out = {
        "name": config.get("OPENBIDS_PUBLISHER_NAME", "Open Bids"),
        "website": url_for("main.home", _external=True),
    }
    if config.get("OPENBIDS_PUBLISHER_IDENTIFIER"):
        out["identifier"] = config["OPENBIDS_PUBLISHER_IDENTIFIER"]
    return out


def _grants():
    all_bids = _all_bids()
    prefix = current_app.config.get("OPENBIDS_360G_PREFIX") or DEFAULT_PREFIX
    return grants_of(public_bids(all_bids), prefix=prefix, permalink=bid_url, all_bids=all_bids)


@bp.get("/360giving.json")
def giving360_json():
    grants = _grants()
    return Response(
        stream_with_context(package_chunks(grants, publisher=publisher())),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="open-bids-360giving.json"'},
    )


@bp.get("/360giving.csv")
def giving360_csv():
    grants = _grants()
    return Response(
        stream_with_context(csv_chunks(grants)),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="open-bids-360giving.csv"'},
    )


ALL_PARAMETER = {
    "name": "all",
    "in": "query",
    "schema": {"type": "string", "enum": ["0", "1"]},
    "description": "1: every public bid, not only grants (awarded, with an amount and a "
    "decision date), with Open Bids' own fields in `openBids` (status, "
    "amountAppliedFor, submittedOn, decidedOn, resubmissionOf, alsoSentTo).",
}
EXTENSION_NOTE = (
    " Each grant carries an `openBids` extension object: `permalink`, `licence` and "
    "`licenceURL` (records keep their own licences; the package's `license` is given only "
    "when every grant has the same one). Identifiers: the bid's own 360G- id, else "
    "`OPENBIDS_360G_PREFIX` and the bid's identifier; organisations by org-id, a 360G- id, "
    "or the prefix and the organisation's slug."
)
openapi.add_tag("360giving", "The 360Giving Data Standard, out.")
openapi.add_paths(
    {
        "/360giving.json": {
            "get": {
                "tags": ["360giving"],
                "operationId": "export360GivingJson",
                "summary": "The awarded bids matching the search, as a 360Giving package "
                "(streamed)",
                "description": "A package valid against the 360Giving Data Standard 1.4: "
                "`publisher`, "
                "`modified`, `grants`." + EXTENSION_NOTE,
                "security": [{}],
                "parameters": [*SEARCH_PARAMETERS, ALL_PARAMETER],
                "responses": {
                    "200": {
                        "description": "A 360Giving package.",
                        "content": json_content({"type": "object"}),
                    },
                    **error_responses(400, 429),
                },
            }
        },
        "/360giving.csv": {
            "get": {
                "tags": ["360giving"],
                "operationId": "export360GivingCsv",
                "summary": "The same grants in 360Giving's flattened form, with its column titles",
                "description": "One row a grant (the first of each list), the standard's column "
                "titles, plus `Open Bids:Permalink`, `Open Bids:Licence` and "
                "`Open Bids:Licence URL`." + EXTENSION_NOTE,
                "security": [{}],
                "parameters": [*SEARCH_PARAMETERS, ALL_PARAMETER],
                "responses": {
                    "200": {
                        "description": "CSV, one row per grant.",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **error_responses(400, 429),
                },
            }
        },
    }
)
