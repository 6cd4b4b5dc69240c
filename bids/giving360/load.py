"""Importing a 360Giving file (JSON package, flattened CSV or XLSX) into bids.

The importer's batch writer does the writing (executemany, a commit per batch, revisions
and index outbox rows); this module adds what 360Giving needs on top of it:

- organisations matched by any identifier they were given (org-id or 360G-), then by a
  normalised name (`mapping.normalise_name`), and made kind funder whenever they fund,
  whatever order they appear in;
- the 360Giving columns (`mapping.COLUMN_FIELDS`) written in the same transaction;
- the licence: the grant's own (`licences`, e.g. from a registry), else the package's
  `license`, else the one given by the person importing; with none, the file is refused;
- one summary line per kind of skipped grant and per kind of normalisation.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update

from bids.database import db, utcnow
from bids.errors import ValidationError
from bids.giving360.mapping import (
    COLUMN_FIELDS,
    Skip,
    grant_to_record,
    licence_from,
    normalise_name,
)
from bids.giving360.reader import FileError, GrantReader, Problem
from bids.imports.report import ImportReport, RowProblem
from bids.imports.rows import CleanRow, clean_row, describe
from bids.imports.run import IndexHooks
from bids.imports.writer import BatchWriter
from bids.models import Bid, Organisation, OrgKind
from bids.organisations import unique_slug


@dataclass
class GivingImportReport(ImportReport):
    """The importer's report, plus skipped-grant summaries and the reader's normalisations."""

    skipped_kinds: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        lines = [super().summary()]
        if self.dry_run:
            lines[0] = "Dry run, nothing written: " + lines[0].replace("Imported", "would import")
        lines += [f"Skipped {n} {reason}." for reason, n in self.skipped_kinds.items()]
        lines += self.notes
        return "\n".join(lines)


class PartyCache:
    """Organisations by every identifier and by normalised name; funders are kind funder.

    Takes the place of the importer's organisation cache in its batch writer (`prepare`,
    `resolve`, `names`, `applicant_kind`)."""

    def __init__(self, applicant_kind: str):
        self.applicant_kind = applicant_kind
        self.kinds: dict[int, str] = {}
        self.known_identifiers: dict[int, set[str]] = {}
        self.org_id_of: dict[int, str] = {}
        self.resolved: dict[tuple[str, str | None], int] = {}
        self.pending: dict[int, dict[str, Any]] = {}
        self.by_identifier: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.has_identifier: set[int] = set()
        self.slugs: set[str] = set()
        for org_id, name, slug, kind, org_identifier, identifiers in db.session.execute(
            select(
                Organisation.id,
                Organisation.name,
                Organisation.slug,
                Organisation.kind,
                Organisation.org_identifier,
                Organisation.identifiers,
            ).order_by(Organisation.id)  # the oldest of a name wins, as everywhere
        ):
            self._remember(org_id, name, org_identifier, slug)
            self.kinds[org_id] = kind
            if org_identifier:
                self.org_id_of[org_id] = org_identifier
            self.known_identifiers[org_id] = set(identifiers or [])
            for ident in identifiers or []:
                self.by_identifier.setdefault(ident, org_id)

    def _remember(self, org_id: int, name: str, identifier: str | None, slug: str) -> None:
        self.names[org_id] = name
        self.slugs.add(slug)
        if identifier:
            self.by_identifier.setdefault(identifier, org_id)
            self.has_identifier.add(org_id)
        self.by_name.setdefault(normalise_name(name), org_id)

    def _unique_slug(self, name: str) -> str:
        slug = unique_slug(name, taken=self.slugs.__contains__)
        self.slugs.add(slug)
        return slug

    def find(self, party: Mapping[str, Any]) -> int | None:
        for ident in [party.get("identifier"), *party.get("identifiers", [])]:
            if ident and ident in self.by_identifier:
                return self.by_identifier[ident]
        org_id = self.by_name.get(normalise_name(party["name"]))
        own, theirs = party.get("identifier"), self.org_id_of.get(org_id)  # type: ignore[arg-type]  # placeholder ids and keys mixed in one map
        if own and theirs and own != theirs:
            return None  # the same name, another org-id: another organisation
        return org_id

    def prepare_parties(self, parties: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """Find or create each party in turn (a new one is found by the next), then write the
        new organisations, their identifiers and the promotions to funder in a few statements.
        New organisations carry negative placeholder ids until they are inserted."""
        self.pending = {}
        self.resolved = {}
        add_ids: set[int] = set()
        promote: set[int] = set()
        table = Organisation.__table__
        for party, kind in parties:
            org_id = self.find(party)
            own = party.get("identifier")
            if org_id is None:
                org_id = self._create(party, kind)
            elif own and org_id not in self.org_id_of and own not in self.by_identifier:
                # Found by name and now known by its org-id (as the importer does).
                if org_id > 0:
                    db.session.execute(
                        table.update().where(table.c.id == org_id).values(org_identifier=own)
                    )
                else:
                    self.pending[org_id]["org_identifier"] = own
                self.org_id_of[org_id] = own
                self.by_identifier[own] = org_id
            self.resolved[(party["name"].strip(), own)] = org_id
            known = self.known_identifiers.setdefault(org_id, set())
            new = {i for i in party.get("identifiers", []) if i and i not in known}
            if new:
                known |= new
                add_ids.add(org_id)
                for ident in new:
                    self.by_identifier.setdefault(ident, org_id)
            if kind == OrgKind.FUNDER and self.kinds.get(org_id) != OrgKind.FUNDER:
                if org_id > 0:
                    promote.add(org_id)
                else:
                    self.pending[org_id]["kind"] = OrgKind.FUNDER
                self.kinds[org_id] = OrgKind.FUNDER
        real = self._insert_pending()
        add_ids = {real.get(i, i) for i in add_ids}
        if add_ids:
            db.session.execute(
                table.update()
                .where(table.c.id == bindparam("org_id"))
                .values(identifiers=bindparam("identifiers")),
                [{"org_id": k, "identifiers": sorted(self.known_identifiers[k])} for k in add_ids],
            )
        if promote:
            db.session.execute(
                update(Organisation).where(Organisation.id.in_(promote)).values(kind=OrgKind.FUNDER)
            )

    def _create(self, party: Mapping[str, Any], kind: str) -> int:
        own = party.get("identifier")
        if own in self.by_identifier:
            own = None  # another organisation has this org-id (found by it, not created)
        name = party["name"].strip()
        placeholder = -(len(self.pending) + 1)
        self.pending[placeholder] = {
            "name": name,
            "slug": self._unique_slug(name),
            "kind": kind,
            "org_identifier": own,
            "description": "",
            "regions": [],
            "identifiers": [],
            "created_at": utcnow(),
        }
        self._remember(placeholder, name, own, self.pending[placeholder]["slug"])
        self.kinds[placeholder] = kind
        self.known_identifiers[placeholder] = set()
        if own:
            self.org_id_of[placeholder] = own
        return placeholder

    def _insert_pending(self) -> dict[int, int]:
        """Insert the new organisations in one statement; placeholder -> real id everywhere."""
        if not self.pending:
            return {}
        placeholders = list(self.pending)
        values = [self.pending[p] for p in placeholders]
        for placeholder, org in zip(placeholders, values, strict=True):
            org["identifiers"] = sorted(self.known_identifiers[placeholder])
        table = Organisation.__table__
        result = db.session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), values
        )
        real = {p: org_id for p, (org_id,) in zip(placeholders, result, strict=True)}
        for mapping in (self.by_identifier, self.by_name, self.resolved):
            for key, value in mapping.items():
                if value < 0:
                    mapping[key] = real[value]  # type: ignore[index]  # placeholder ids and keys mixed in one map
        for by_id in (self.names, self.kinds, self.known_identifiers, self.org_id_of):
            for placeholder in placeholders:
                if placeholder in by_id:
                    by_id[real[placeholder]] = by_id.pop(placeholder)  # type: ignore[assignment]  # placeholder ids and keys mixed in one map
        self.has_identifier = {real.get(i, i) for i in self.has_identifier}
        self.pending = {}
        return real

    def prepare(self, parties: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """The importer's call: `prepare_parties` has already created every party."""

    def resolve(self, party: Mapping[str, Any]) -> int:
        """The organisation `prepare_parties` found or made for this batch's party."""
        org_id = self.resolved.get((party["name"].strip(), party.get("identifier")))
        if org_id is None:
            org_id = self.find(party)
        if org_id is None:
            raise KeyError(party["name"])
        return org_id


class GrantWriter(BatchWriter):
    orgs: PartyCache  # type: ignore[assignment]  # stands in for the importer's cache

    def __init__(self, report: ImportReport, applicant_kind: str, record_changes=None):
        super().__init__(report, applicant_kind, record_changes)
        self.orgs = PartyCache(applicant_kind)

    def _write(self, rows: list[CleanRow]) -> None:
        self.orgs.prepare_parties(
            party
            for row in rows
            for party in (
                (row.full_parties[0], self.orgs.applicant_kind),
                (row.full_parties[1], OrgKind.FUNDER),
            )
        )
        super()._write(rows)
        table = Bid.__table__
        db.session.execute(
            table.update()
            .where(table.c.identifier == bindparam("bid_identifier"))
            .values({name: bindparam(name) for name in COLUMN_FIELDS}),
            [{"bid_identifier": row.fields["identifier"], **row.columns} for row in rows],
        )


def import_360giving(
    path: Path | str,
    *,
    fmt: str | None = None,
    licence: str | None = None,
    licences: Mapping[str, str] | None = None,
    organisation_kind: str = OrgKind.APPLICANT,
    limit: int | None = None,
    dry_run: bool = False,
    hooks: IndexHooks | None = None,
) -> GivingImportReport:
    """Import a 360Giving file; `licences` maps grant ids to licences (a registry's).

    `hooks` are the derived stores' part, as for `bids.imports.import_bids`."""
    hooks = hooks or IndexHooks()
    reader = GrantReader(path, fmt)
    grants = reader.grants()  # a JSON package's own fields are read before the first grant
    package_licence = reader.package.get("license")
    file_licence = licence_from(package_licence)
    if package_licence and file_licence is None:
        raise FileError(
            f"The package's licence {package_licence!r} is not one Open Bids can record."
        )
    fallback = file_licence or (licence_from(licence) if licence else None)
    if licence and licence_from(licence) is None:
        raise FileError(f"Unknown licence {licence!r}.")
    if fallback is None and not licences:
        raise FileError(
            "The file states no licence: say which with --licence (Open Bids never assumes one)."
        )
    report = GivingImportReport(dry_run=dry_run)
    started = time.perf_counter()
    writer = GrantWriter(report, organisation_kind, hooks.record_changes)
    where = reader.where
    try:
        with hooks.defer():
            for count, (number, grant) in enumerate(grants, start=1):
                where = reader.where
                _take(number, grant, where, writer, report, licences, fallback, dry_run)
                if limit is not None and count >= limit:
                    break
            if dry_run:
                writer.rows = []
            writer.flush()
        if hooks.after_import is not None and not dry_run:
            hooks.after_import(report.imported + report.updated)
    finally:
        report.notes = reader.notes.lines()
    report.seconds = time.perf_counter() - started
    return report


def _take(
    number: int,
    grant: dict[str, Any] | Problem,
    where: str,
    writer: GrantWriter,
    report: GivingImportReport,
    licences: Mapping[str, str] | None,
    fallback: str | None,
    dry_run: bool,
) -> None:
    if isinstance(grant, Problem):
        report.skipped += 1
        report.problems.append(RowProblem(number, grant.reason, where))
        return
    stated = licences.get(grant.get("id")) if licences else None  # type: ignore[arg-type]  # placeholder ids and keys mixed in one map
    own = licence_from(stated)
    record = grant_to_record(grant, own or fallback)
    if isinstance(record, Skip):
        report.skipped += 1
        report.skipped_kinds[record.reason] += 1
        return
    problem = None
    if stated and not own:
        problem = f"licence: {stated!r} is not one licence Open Bids can record"
    elif not record.get("licence"):
        problem = "licence: none stated for this grant, in the file or by --licence"
    elif not record.get("identifier"):
        problem = "identifier: a 360Giving grant needs its id"
    if problem:
        report.skipped += 1
        report.problems.append(RowProblem(number, problem, where))
        return
    try:
        row = clean_row(number, record)
    except ValidationError as exc:
        report.skipped += 1
        report.problems.append(RowProblem(number, describe(exc), where))
        return
    row.full_parties = (record["organisation"], record["funder"])
    row.columns = {name: record.get(name) for name in COLUMN_FIELDS}
    if dry_run:
        report.imported += 1  # would be written; counted as new, nothing is looked up
        return
    writer.add(row)
