"""Reading a bid from an API request body: JSON object, API field names, the publishing
organisation.

The API calls the bid's source `source_url` (its `url` is the permalink); errors come back
under the API's names.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from bids.errors import Forbidden, ValidationError
from bids.fields import clean_party
from bids.models import Organisation, User

# API name -> name in bids.fields.clean_bid_fields (`url` there is where the bid came from;
# in the API `url` is the permalink, so the source is called `source_url`).
WRITABLE = {
    "identifier": "identifier",
    "title": "title",
    "summary": "summary",
    "body": "body",
    "funder": "funder",
    "programme": "programme",
    "amount_requested": "amount_requested",
    "amount_awarded": "amount_awarded",
    "currency": "currency",
    "duration_months": "duration_months",
    "submitted_on": "submitted_on",
    "decided_on": "decided_on",
    "status": "status",
    "visibility": "visibility",
    "themes": "themes",
    "locations": "locations",
    "licence": "licence",
    "source_url": "url",
}
# Output-only fields: ignored on input so that a fetched bid can be edited and sent back.
READ_ONLY = {
    "id",
    "url",
    "text",
    "attachments",
    "revisions",
    "created_at",
    "updated_at",
    "published_at",
}


def json_object() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON object with `Content-Type: application/json`.")
    try:
        data = request.get_json()
    except BadRequest:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def bid_fields(data: dict[str, Any], *, allowed_extra: set[str]) -> dict[str, Any]:
    """API names to `clean_bid_fields` names; unknown names are a 422, read-only ones ignored."""
    unknown = sorted(
        k for k in data if k not in WRITABLE and k not in READ_ONLY and k not in allowed_extra
    )
    if unknown:
        raise ValidationError({k: "Unknown field." for k in unknown})
    return {WRITABLE[k]: v for k, v in data.items() if k in WRITABLE}


def api_names(exc: ValidationError) -> ValidationError:
    """The same errors under the API's field names."""
    renamed = {("source_url" if k == "url" else k): v for k, v in exc.errors.items()}
    return ValidationError(renamed)


def is_organisation(org: Organisation, party: dict[str, str | None]) -> bool:
    if party["identifier"] and org.org_identifier:
        return org.org_identifier.upper() == party["identifier"].upper()
    return org.name.casefold() == party["name"].casefold()


def clean_organisation(value: Any) -> dict[str, str | None]:
    try:
        party = clean_party(value, "Organisation")
    except ValidationError as exc:
        raise ValidationError({"organisation": next(iter(exc.errors.values()))}) from None
    if party is None:
        raise ValidationError({"organisation": "Name the organisation publishing the bid."})
    return party


def own_organisation(user: User, value: Any) -> Organisation:
    """One of the user's organisations; 403 for any other (whether it exists or not)."""
    organisations = [m.organisation for m in user.memberships]
    if value is None or value == "":
        if len(organisations) == 1:
            return organisations[0]
        if not organisations:
            raise Forbidden("Your account belongs to no organisation, so it cannot publish bids.")
        raise ValidationError(
            {"organisation": "You belong to several organisations: say which one publishes this."}
        )
    party = clean_organisation(value)
    for org in organisations:
        if is_organisation(org, party):
            return org
    raise Forbidden("You can only publish bids for organisations you are a member of.")
