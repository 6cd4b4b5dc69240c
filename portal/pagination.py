"""Page numbers and pages of lists, the one way for every list, HTML and API.

HTML lists read a missing or malformed page number as page 1 and answer 404 past `MAX_PAGE`;
API lists answer 400 for either. Both page queries with `db.paginate`, and the API's
`collection` gives the JSON shape of a page (items, total, page, per_page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select
from werkzeug.exceptions import BadRequest

from bids.database import db

# Past this, a page number is a typo or a probe: no list here has 10,000 pages of results.
MAX_PAGE = 10_000
API_PER_PAGE = 20
API_MAX_PER_PAGE = 100


def page_number(name: str = "page") -> int:
    """The page asked for in the query string: 1 unless a whole number from 1; 404 past MAX_PAGE."""
    raw = (request.args.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        return 1
    if int(raw) > MAX_PAGE:
        abort(404)
    return int(raw)


def paginate(
    query: Select, per_page: int, *, name: str = "page", error_out: bool = False
) -> Pagination:
    """One page of `query` for an HTML list; `error_out` makes a page past the last a 404."""
    return db.paginate(query, page=page_number(name), per_page=per_page, error_out=error_out)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter of the API between `low` and `high`; 400 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"`{name}` must be a whole number.") from None
    if not low <= value <= high:
        raise BadRequest(f"`{name}` must be between {low} and {high}.")
    return value


def api_page() -> tuple[int, int]:
    """`page` and `per_page` of an API list request; 400 when out of range."""
    return (int_arg("page", 1, 1, MAX_PAGE), int_arg("per_page", API_PER_PAGE, 1, API_MAX_PER_PAGE))


def collection(query: Select, to_item: Callable[[Any], dict]) -> dict:
    """A page of `query` as the API returns it, the page chosen by the request's arguments."""
    page, per_page = api_page()
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return {
        "items": [to_item(row) for row in pagination.items],
        "total": pagination.total,
        "page": page,
        "per_page": per_page,
    }
