"""The search page: the query language, facets, sorting and exports over the search service."""

from __future__ import annotations

from flask import current_app, render_template, request, url_for
from flask_login import current_user

from bids.access import real_user
from bids.listing import visible_bids_in_order
from portal.exports import export_response
from portal.pagination import page_number
from portal.search import bp
from search_index.filters import FACET_FIELDS, SORTS, filters_from_args
from search_index.service import get_search_service

FACET_TITLES = {
    "funder": "Funder",
    "status": "Status",
    "year": "Year",
    "theme": "Theme",
    "location": "Location",
    "band": "Amount",
}
SORT_LABELS = {"relevance": "Relevance", "newest": "Newest", "amount": "Largest amount"}


def _args_with(**changes) -> dict:
    """The current query string with some keys replaced (None removes a key)."""
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


def facet_url(name: str, value: str) -> str:
    """Add the value to the facet's filter, or remove it when already chosen."""
    chosen = request.args.getlist(name)
    chosen = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
    return url_for("search.search", **_args_with(**{name: chosen or None}))


def search_url(**changes) -> str:
    return url_for("search.search", **_args_with(**changes))


def export_url(fmt: str) -> str:
    return url_for("search.export", fmt=fmt, **_args_with())


def page_url(page: int) -> str:
    return url_for("search.search", **_args_with(), page=page)


@bp.route("/search")
def search():
    q = request.args.get("q", "")
    sort = request.args.get("sort", "relevance")
    filters = filters_from_args(request.args)
    results = get_search_service().search(
        current_user, q, filters, sort, page_number(), current_app.config["BIDS_PER_PAGE"]
    )
    # The database decides: a bid changed since it was indexed is shown only if still visible.
    loaded = {bid.id: bid for bid in visible_bids_in_order(current_user, results.bid_ids)}
    rows = [(loaded[hit.bid_id], hit) for hit in results.items if hit.bid_id in loaded]
    active = [(name, value) for name in FACET_FIELDS for value in request.args.getlist(name)]
    labels = {name: {f.value: f.label for f in values} for name, values in results.facets.items()}
    return render_template(
        "search/results.html",
        q=q,
        results=results,
        rows=rows,
        active=active,
        labels=labels,
        facet_titles=FACET_TITLES,
        sorts=SORTS,
        sort_labels=SORT_LABELS,
        facet_url=facet_url,
        search_url=search_url,
        page_url=page_url,
        export_url=export_url,
    ), (400 if results.window_exceeded else 200)


@bp.get("/search/export.<any(csv, json):fmt>")
def export(fmt: str):
    """The page's results as a download, for whoever is signed in (the API's exports take a
    token)."""
    return export_response(real_user(current_user), fmt)
