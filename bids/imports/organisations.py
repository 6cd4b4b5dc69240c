"""The organisations and funders an import names: found once per run, created a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update

from bids.database import db, utcnow
from bids.models import Organisation
from bids.organisations import unique_slug


class OrganisationCache:
    """Every organisation's id by identifier and by lower-cased name, loaded once per run."""

    def __init__(self, applicant_kind: str):
        self.applicant_kind = applicant_kind
        self.by_identifier: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.has_identifier: set[int] = set()
        self.slugs: set[str] = set()
        rows = db.session.execute(
            select(Organisation.id, Organisation.name, Organisation.org_identifier,
                   Organisation.slug).order_by(Organisation.id)
        )
        for org_id, name, identifier, slug in rows:
            self._remember(org_id, name, identifier, slug)

    def _remember(self, org_id: int, name: str, identifier: str | None, slug: str) -> None:
        self.names[org_id] = name
        self.slugs.add(slug)
        self.by_name.setdefault(name.strip().lower(), org_id)
        if identifier:
            self.by_identifier[identifier] = org_id
            self.has_identifier.add(org_id)

    def prepare(self, parties: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """Create, in one statement, the organisations a batch names that do not exist yet."""
        new: dict[str, dict[str, Any]] = {}  # lower-cased name -> values
        new_identifiers: set[str] = set()
        for party, kind in parties:
            name, identifier = party["name"].strip(), party.get("identifier")
            if identifier and (identifier in self.by_identifier or identifier in new_identifiers):
                continue
            key = name.lower()
            org_id = self.by_name.get(key)
            if org_id is not None:
                if identifier and org_id not in self.has_identifier:
                    # Found by name and now known by its identifier: remember it (as
                    # `find_or_create_organisation` does).
                    db.session.execute(
                        update(Organisation).where(Organisation.id == org_id)
                        .values(org_identifier=identifier)
                    )
                    self.by_identifier[identifier] = org_id
                    self.has_identifier.add(org_id)
                continue
            pending = new.get(key)
            if pending is None:
                new[key] = {
                    "name": name, "slug": self._unique_slug(name), "kind": kind,
                    "org_identifier": identifier, "description": "", "regions": [],
                    "created_at": utcnow(),
                }
            elif identifier and not pending["org_identifier"]:
                pending["org_identifier"] = identifier
            if identifier:
                new_identifiers.add(identifier)
        if not new:
            return
        values = list(new.values())
        table = Organisation.__table__
        result = db.session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), values
        )
        for org, (org_id,) in zip(values, result, strict=True):
            self._remember(org_id, org["name"], org["org_identifier"], org["slug"])

    def resolve(self, party: Mapping[str, Any]) -> int:
        """The id of a party `prepare` has seen: by identifier first, else by name."""
        identifier = party.get("identifier")
        if identifier and identifier in self.by_identifier:
            return self.by_identifier[identifier]
        return self.by_name[party["name"].strip().lower()]

    def _unique_slug(self, name: str) -> str:
        slug = unique_slug(name, taken=self.slugs.__contains__)
        self.slugs.add(slug)
        return slug

