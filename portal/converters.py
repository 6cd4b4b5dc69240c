"""Ids in URLs: `<int:...>` in every route, and ids in query strings and forms, stay in range.

`create_app` installs `BoundedIntConverter` as the `int` converter before any blueprint is
registered, so `/bids/99999999999999999999` is a 404 like any other unknown page instead of an
overflow inside SQLite or PostgreSQL (whose integer ids stop at 2**31 - 1). Views read ids
from query strings and forms with `id_arg` and `id_value`, which apply the same bound.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from bids.errors import NotFound

MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's `int`, from 0 to MAX_ID unless a route gives its own `max`."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=min,
            max=MAX_ID if max is None else max,
            signed=signed,
        )


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter


def id_value(raw: object) -> int:
    """An id sent in a form or query string: 404 unless a whole number from 0 to MAX_ID."""
    text = str(raw).strip() if raw is not None else ""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise NotFound("No such page.")
    return int(text)


def id_arg(name: str, default: int) -> int:
    """The query string's `name` as an id: `default` when missing or malformed, 404 out of range."""
    value = request.args.get(name, default, type=int)
    if not 0 <= value <= MAX_ID:
        raise NotFound("No such page.")
    return value
