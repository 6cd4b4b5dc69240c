"""The organisations and funders an import names: found a batch at a time with the one lookup
rule (`bids.organisations.OrganisationDirectory`), the missing ones created in one statement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update

from bids.database import db, dialect_insert, utcnow
from bids.models import Organisation
from bids.organisations import (
    OrganisationDirectory,
    find_or_create_organisation,
    name_key,
    unique_slug,
)


class OrganisationCache:
    """The organisations an import run has looked up or created, and every slug in use."""

    def __init__(self, applicant_kind: str):
        self.applicant_kind = applicant_kind
        self.directory = OrganisationDirectory()
        self.slugs: set[str] = set(db.session.scalars(select(Organisation.slug)))

    @property
    def names(self) -> dict[int, str]:
        """Organisation id -> name, for every organisation the run has resolved."""
        return self.directory.names

    def prepare(self, parties: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """Create, in one statement, the organisations a batch names that do not exist yet."""
        parties = list(parties)
        directory = self.directory
        directory.load(
            (party["name"] for party, _ in parties),
            (party.get("identifier") for party, _ in parties),
        )
        new: dict[str, dict[str, Any]] = {}  # name key -> values
        new_identifiers: set[str] = set()
        for party, kind in parties:
            name, identifier = party["name"].strip(), party.get("identifier")
            if identifier and identifier in new_identifiers:
                continue
            org_id = directory.find(name, identifier)
            if org_id is not None:
                if identifier and org_id not in directory.identifiers:
                    # Found by name and now known by its identifier: remember it (as
                    # `find_or_create_organisation` does).
                    db.session.execute(
                        update(Organisation)
                        .where(Organisation.id == org_id)
                        .values(org_identifier=identifier)
                    )
                    directory.set_identifier(org_id, identifier)
                continue
            key = name_key(name)
            pending = new.get(key)
            if pending is None:
                new[key] = {
                    "name": name,
                    "slug": self._unique_slug(name),
                    "kind": kind,
                    "org_identifier": identifier,
                    "description": "",
                    "regions": [],
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
        created = dict(
            db.session.execute(
                dialect_insert(db.session, table)
                .on_conflict_do_nothing()
                .returning(table.c.slug, table.c.id),
                values,
            ).all()
        )
        for org in values:
            if org["slug"] in created:
                directory.add(created[org["slug"]], org["name"], org["org_identifier"])
            else:  # another writer created it (or took its slug) since the batch was looked up
                found = find_or_create_organisation(org["name"], org["org_identifier"], org["kind"])
                directory.add(found.id, found.name, found.org_identifier)

    def resolve(self, party: Mapping[str, Any]) -> int:
        """The id of a party `prepare` has seen: by identifier first, else by name."""
        org_id = self.directory.find(party["name"], party.get("identifier"))
        if org_id is None:
            raise KeyError(party["name"])
        return org_id

    def _unique_slug(self, name: str) -> str:
        slug = unique_slug(name, taken=self.slugs.__contains__)
        self.slugs.add(slug)
        return slug
