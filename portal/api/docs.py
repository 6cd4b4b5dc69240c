"""The API's own description: `/openapi.json` for programs and `/` (a page listing the
endpoints)."""

from __future__ import annotations

from flask import jsonify, render_template, url_for

from portal.api import bp, openapi


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
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "token": _token_need(operation),
                }
            )
    sections = [
        {"name": name, "description": descriptions.get(name, ""), "endpoints": endpoints}
        for name, endpoints in groups.items()
        if endpoints
    ]
    return render_template("api/index.html", document=document, sections=sections)
