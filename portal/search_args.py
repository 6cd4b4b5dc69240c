"""The search arguments /search, /insights and /network share, read once for all three."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from search_index.filters import FACET_FIELDS, SearchFilters, filters_from_args

SEARCH_ARGS = ("q", *FACET_FIELDS, "min_amount", "max_amount")


def search_args() -> dict[str, list[str]]:
    """The request's search arguments only (for links between the three pages)."""
    return {k: v for k, v in request.args.to_dict(flat=False).items() if k in SEARCH_ARGS}


def request_search(args) -> tuple[str, SearchFilters]:
    """The query and filters of the request's arguments; 400 on a bad value."""
    q = args.get("q", "")
    if len(q) > 1000:
        raise BadRequest("`q` is too long (1,000 characters at most).")
    try:
        return q, filters_from_args(args, strict=True)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
