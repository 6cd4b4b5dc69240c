"""The query parameters of every API request checked against the OpenAPI description, before
the view runs: a value outside a described enum, a number that is not one or is out of its
range, or an empty value where a number or an enum value is expected answers 400; so does a
NUL character in any parameter.

The views keep their own checks (the HTML pages share some of them, leniently); this makes
the API answer exactly what its description promises, whichever view serves the route.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from portal.api import bp, openapi

_INTEGER = re.compile(r"^-?[0-9]+$")


def _resolve(document: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return document["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
    return param


@cache
def _described() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(OpenAPI path, method) -> query parameter name -> its schema."""
    document = openapi.build_document("")
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = (_resolve(document, p) for p in operation.get("parameters", []))
            out[(path, method.upper())] = {
                p["name"]: p.get("schema", {}) for p in params if p["in"] == "query"
            }
    return out


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def problem(name: str, value: str, schema: dict[str, Any]) -> str | None:
    """What is wrong with `value` for a parameter of this schema, or None."""
    kind = schema.get("type")
    if "enum" in schema:
        allowed = [str(v) for v in schema["enum"]]
        if value.strip().casefold() not in {v.casefold() for v in allowed}:
            return f"`{name}` must be one of {', '.join(allowed)}."
        return None
    if kind not in ("integer", "number"):
        return None
    if kind == "integer":
        if not _INTEGER.match(value.strip()):
            return f"`{name}` must be a whole number."
        number = Decimal(value.strip())
    else:
        try:
            number = Decimal(value.replace(",", "").strip())
        except InvalidOperation:
            return f"`{name}` must be a number."
        if not number.is_finite():
            return f"`{name}` must be a number."
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and number < low) or (high is not None and number > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        return f"`{name}` must be {span}."
    return None


@bp.before_request
def check_query() -> None:
    """400 for a described query parameter whose value its description does not allow."""
    if any("\x00" in value for value in request.args.values()):
        # No text can hold one (PostgreSQL refuses it outright: a 500 from the database).
        raise BadRequest("Query parameters cannot contain NUL characters.")
    if request.url_rule is None:
        return
    described = _described().get((_openapi_path(request.url_rule.rule), request.method))
    if not described:
        return
    for name, schema in described.items():
        for value in request.args.getlist(name):
            message = problem(name, value, schema)
            if message:
                raise BadRequest(message)
