"""The OpenAPI 3.1 description of API v1, assembled from what each API module contributes.

Each module under `portal/api/` calls `add_paths({...})` (and `add_schemas`,
`add_responses` for its own components) at import time, next to its routes;
`build_document` puts them together. A test checks that every route of the
blueprint is described here, so the document cannot drift from the code.
"""

from __future__ import annotations

import copy
from typing import Any

VERSION = "1.0.0"

_paths: dict[str, dict[str, Any]] = {}
_schemas: dict[str, dict[str, Any]] = {}
_responses: dict[str, dict[str, Any]] = {}
_parameters: dict[str, dict[str, Any]] = {}
_tags: dict[str, str] = {}

DESCRIPTION = """\
Open Bids publishes grant bids openly. Reads are public; writes need a bearer token
(`Authorization: Bearer <token>`, created with `flask --app portal create-token EMAIL` or on the
account page, revocable there). A token that is sent but unknown or revoked is refused with 401
on every route, reads included. With a valid token, reads also include the drafts (and hidden
bids) of the caller's organisations; to anyone else those answer 404, as if they did not exist.

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`, plus `fields` (field -> message)
for 422 validation errors. When a write fails, nothing is changed.

Field names follow 360Giving where they map:
`identifier` = `id`; `title` = `title`; `summary` = `description`;
`organisation` = `recipientOrganization[0]` (`name`, `identifier` = `id`);
`funder` = `fundingOrganization[0]` (`name`, `identifier` = `id`);
`programme` = `grantProgramme[0].title`; `amount_requested` = `amountAppliedFor`;
`amount_awarded` = `amountAwarded`; `currency` = `currency` (ISO 4217);
`decided_on` = `awardDate` (for awarded bids); `duration_months` = `plannedDates[0].duration`;
`locations` = `beneficiaryLocation[].name`; `themes` = `classifications[].title`;
`updated_at` = `dateModified`. Organisation identifiers use the org-id.guide form
(e.g. `GB-CHC-1164883`). Amounts are JSON numbers in the currency's units (not minor units).

Anonymous callers are rate-limited per address, token holders per user; over the limit the API
answers 429.
"""


def add_paths(paths: dict[str, dict[str, Any]]) -> None:
    """Describe routes: `{"/bids/{bid_id}": {"get": {...}}}`; paths are relative to /api/v1."""
    for path, operations in paths.items():
        existing = _paths.setdefault(path, {})
        for method, operation in operations.items():
            if method in existing and existing[method] != operation:
                raise ValueError(f"{method.upper()} {path} is described twice")
            existing[method] = operation


def add_operation_parameters(path: str, method: str, parameters: list[dict[str, Any]]) -> None:
    """More parameters for an operation described elsewhere (e.g. search's on `GET /bids`);
    a parameter already described under the same name keeps its description."""
    operation = _paths[path][method]
    existing = operation.setdefault("parameters", [])
    names = {p.get("name") for p in existing}
    existing.extend(p for p in parameters if p["name"] not in names)


def add_schemas(schemas: dict[str, dict[str, Any]]) -> None:
    _schemas.update(schemas)


def add_responses(responses: dict[str, dict[str, Any]]) -> None:
    _responses.update(responses)


def add_parameters(parameters: dict[str, dict[str, Any]]) -> None:
    _parameters.update(parameters)


def add_tag(name: str, description: str) -> None:
    _tags[name] = description


def build_document(server_url: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, with `server_url` (the API root) as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Open Bids API",
            "version": VERSION,
            "summary": "Read and publish open grant bids.",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": n, "description": d} for n, d in _tags.items()],
        "paths": copy.deepcopy(dict(sorted(_paths.items()))),
        "components": {
            "schemas": copy.deepcopy(_schemas),
            "responses": copy.deepcopy(_responses),
            "parameters": copy.deepcopy(_parameters),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token of a user; writes act as that user.",
                }
            },
        },
    }


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error_responses(*statuses: int) -> dict[str, Any]:
    """Shared error responses by status, for an operation's `responses`."""
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        413: "PayloadTooLarge",
        415: "UnsupportedMediaType",
        422: "ValidationFailed",
        429: "RateLimited",
    }
    return {str(s): ref("responses", names[s]) for s in statuses}


# --- Shared components ---------------------------------------------------------------------


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref("schemas", "Error"))}


add_responses(
    {
        "BadRequest": _error_response("Malformed request: bad parameter or invalid JSON."),
        "Unauthorized": _error_response("No valid bearer token (missing, malformed or revoked)."),
        "Forbidden": _error_response("The token's user is not a member of the organisation."),
        "NotFound": _error_response("No such thing, or not visible to this caller."),
        "PayloadTooLarge": _error_response("The upload or request body is too large."),
        "UnsupportedMediaType": _error_response("Wrong content type (e.g. not JSON, not a PDF)."),
        "ValidationFailed": _error_response("Invalid fields; `error.fields` says what is wrong."),
        "RateLimited": _error_response("Too many requests; try again later."),
    }
)

add_parameters(
    {
        "Page": {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "default": 1},
        },
        "PerPage": {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
    }
)

add_schemas(
    {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ["validation_error"]},
                        "message": {"type": "string"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Field name -> what is wrong (422 only).",
                        },
                    },
                }
            },
        },
    }
)

_STRING_OR_NULL = {"type": ["string", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_STATUSES = ["draft", "submitted", "awarded", "declined", "withdrawn"]

add_schemas(
    {
        "Party": {
            "type": "object",
            "description": "An organisation (360Giving recipient/fundingOrganization).",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 200},
                "identifier": {
                    **_STRING_OR_NULL,
                    "description": "org-id, e.g. GB-CHC-1164883 (360Giving `id`)",
                    "examples": ["GB-CHC-1164883"],
                },
            },
        },
        "BidItem": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "identifier": {
                    "type": "string",
                    "x-360giving": "id",
                    "examples": ["360G-openbids-12"],
                },
                "title": {"type": "string", "x-360giving": "title"},
                "summary": {"type": "string", "x-360giving": "description"},
                "organisation": {
                    **ref("schemas", "Party"),
                    "x-360giving": "recipientOrganization[0]",
                },
                "funder": {
                    "oneOf": [ref("schemas", "Party"), {"type": "null"}],
                    "x-360giving": "fundingOrganization[0]",
                },
                "programme": {"type": "string", "x-360giving": "grantProgramme[0].title"},
                "amount_requested": {**_NUMBER_OR_NULL, "x-360giving": "amountAppliedFor"},
                "amount_awarded": {**_NUMBER_OR_NULL, "x-360giving": "amountAwarded"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "x-360giving": "currency"},
                "status": {"type": "string", "enum": _STATUSES},
                "visibility": {"type": "string", "enum": ["draft", "published"]},
                "submitted_on": {**_STRING_OR_NULL, "format": "date"},
                "url": {
                    **_STRING_OR_NULL,
                    "format": "uri",
                    "description": "Permalink of the bid's page.",
                },
            },
        },
        "Attachment": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "filename": {"type": "string"},
                "size": {"type": "integer", "description": "Bytes."},
                "pages": {"type": ["integer", "null"]},
                "sha256": {"type": "string"},
                "status": {
                    "type": "string",
                    "enum": ["pending", "ok", "no_text_layer", "encrypted", "failed"],
                    "description": "Text extraction status.",
                },
                "message": {"type": "string", "description": "Extraction status for people."},
                "url": {**_STRING_OR_NULL, "format": "uri", "description": "Download link."},
            },
        },
        "Revision": {
            "type": "object",
            "properties": {
                "number": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "note": {"type": "string"},
            },
        },
        "BidDetail": {
            "allOf": [
                ref("schemas", "BidItem"),
                {
                    "type": "object",
                    "properties": {
                        "body": {"type": "string", "description": "Markdown source."},
                        "text": {
                            "type": "string",
                            "description": "Plain text of the body and the attachments.",
                        },
                        "themes": {
                            "type": "array",
                            "items": {"type": "string"},
                            "x-360giving": "classifications[].title",
                        },
                        "locations": {
                            "type": "array",
                            "items": {"type": "string"},
                            "x-360giving": "beneficiaryLocation[].name",
                        },
                        "licence": {
                            "type": "string",
                            "enum": ["CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "all-rights-reserved"],
                        },
                        "duration_months": {
                            "type": ["integer", "null"],
                            "x-360giving": "plannedDates[0].duration",
                        },
                        "decided_on": {
                            **_STRING_OR_NULL,
                            "format": "date",
                            "x-360giving": "awardDate",
                        },
                        "source_url": {
                            **_STRING_OR_NULL,
                            "format": "uri",
                            "description": "Where the bid was first published.",
                        },
                        "attachments": {"type": "array", "items": ref("schemas", "Attachment")},
                        "revisions": {"type": "array", "items": ref("schemas", "Revision")},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {
                            "type": "string",
                            "format": "date-time",
                            "x-360giving": "dateModified",
                        },
                        "published_at": {**_STRING_OR_NULL, "format": "date-time"},
                    },
                },
            ]
        },
        "BidList": {
            "type": "object",
            "required": ["items", "total", "page", "per_page"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            ref("schemas", "BidItem"),
                            {
                                "type": "object",
                                "properties": {
                                    "highlights": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "description": "With a search: passages of the text "
                                        "matching `q`, "
                                        "matches marked with <b>.",
                                    }
                                },
                            },
                        ]
                    },
                },
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "sort": {
                    "type": "string",
                    "enum": ["relevance", "newest", "amount"],
                    "description": "With a search: the order used.",
                },
                "facets": {
                    "type": "object",
                    "description": "With a search: for each facet (funder, status, year, "
                    "theme, location, band), its values and their counts.",
                    "additionalProperties": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["value", "count"],
                            "properties": {"value": {}, "count": {"type": "integer"}},
                        },
                    },
                },
                "notice": {
                    "type": "string",
                    "description": "With a search: why the query was read another way.",
                },
                "did_you_mean": {
                    "type": "string",
                    "description": "With a search: a corrected query.",
                },
            },
        },
        "BidInput": {
            "type": "object",
            "description": (
                "Writable fields. Read-only fields of a bid (id, url, text, attachments, "
                "revisions, created_at, updated_at, published_at) are ignored, so a fetched bid "
                "can be sent back; any other unknown field is refused with 422."
            ),
            "properties": {
                "identifier": {"type": "string", "description": "Yours; generated if absent."},
                "title": {"type": "string", "maxLength": 300},
                "summary": {"type": "string", "maxLength": 5000},
                "body": {"type": "string", "description": "Markdown."},
                "organisation": {
                    **ref("schemas", "Party"),
                    "description": "One of the token user's organisations (by identifier or "
                    "name); may be left out when the user belongs to exactly one.",
                },
                "funder": {
                    **ref("schemas", "Party"),
                    "description": "Found by identifier or name, created if new.",
                },
                "programme": {"type": "string"},
                "amount_requested": {"type": ["number", "string", "null"]},
                "amount_awarded": {"type": ["number", "string", "null"]},
                "currency": {"type": "string", "default": "GBP"},
                "duration_months": {"type": ["integer", "null"], "minimum": 1, "maximum": 240},
                "submitted_on": {**_STRING_OR_NULL, "format": "date"},
                "decided_on": {**_STRING_OR_NULL, "format": "date"},
                "status": {"type": "string", "enum": _STATUSES, "default": "draft"},
                "visibility": {
                    "type": "string",
                    "enum": ["draft", "published"],
                    "default": "draft",
                    "description": "A published bid cannot go back to draft.",
                },
                "themes": {"type": "array", "items": {"type": "string"}},
                "locations": {"type": "array", "items": {"type": "string"}},
                "licence": {"type": "string", "default": "CC-BY-4.0"},
                "source_url": {**_STRING_OR_NULL, "format": "uri"},
            },
        },
    }
)
