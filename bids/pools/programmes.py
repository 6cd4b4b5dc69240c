"""Funders' programmes: what each funds, with typical award ranges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from bids.access import is_member
from bids.database import db
from bids.errors import Forbidden, ValidationError
from bids.fields import clean_amount, clean_currency, clean_date, clean_tags
from bids.models import Organisation, OrgKind, User, to_minor
from bids.pools.models import (
    Programme,
)


def require_funder_member(actor: Any, org: Organisation) -> User:
    if org.kind != OrgKind.FUNDER:
        raise ValidationError({"funder": "Only funder organisations can do this."})
    if not is_member(actor, org):
        raise Forbidden("Only members of the funder can do this.")
    return actor


def money_field(data: Mapping[str, Any], key: str, errors: dict[str, str]) -> int | None:
    try:
        return to_minor(clean_amount(data.get(key)))
    except ValidationError as exc:
        errors[key] = str(exc)
        return None


def create_programme(actor: User, funder: Organisation, data: Mapping[str, Any]) -> Programme:
    require_funder_member(actor, funder)
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = "Name the programme."
    elif db.session.scalar(
        select(Programme.id).where(
            Programme.funder_id == funder.id, func.lower(Programme.name) == name.lower()
        )
    ):
        errors["name"] = "This funder already has a programme of that name."
    values: dict[str, Any] = {}
    for key in ("opens_on", "closes_on"):
        try:
            values[key] = clean_date(data.get(key))
        except ValidationError as exc:
            errors[key] = str(exc)
    try:
        values["currency"] = clean_currency(data.get("currency"))
    except ValidationError as exc:
        errors["currency"] = str(exc)
    low = money_field(data, "typical_award_min", errors)
    high = money_field(data, "typical_award_max", errors)
    budget = money_field(data, "budget", errors)
    if low is not None and high is not None and low > high:
        errors["typical_award_max"] = "The top of the typical range is below its bottom."
    if (
        values.get("opens_on")
        and values.get("closes_on")
        and values["closes_on"] < values["opens_on"]
    ):
        errors["closes_on"] = "The programme cannot close before it opens."
    try:
        themes, nations = clean_tags(data.get("themes")), clean_tags(data.get("nations"))
    except ValidationError as exc:
        errors["themes"] = str(exc)
        themes, nations = [], []
    if errors:
        raise ValidationError(errors)
    programme = Programme(
        funder=funder,
        name=name[:200],
        description=(data.get("description") or "").strip()[:5000],
        themes=themes,
        nations=nations,
        typical_award_min_minor=low,
        typical_award_max_minor=high,
        budget_minor=budget,
        **values,
    )
    db.session.add(programme)
    db.session.flush()
    return programme


def programmes(funder_id: int | None = None) -> list[Programme]:
    query = select(Programme).order_by(Programme.name)
    if funder_id is not None:
        query = query.where(Programme.funder_id == funder_id)
    return list(db.session.scalars(query))
