"""Writes batches of clean rows as bulk INSERT/UPDATE statements with their revisions.

The per-object ORM path (`create_bid`) was ~30x slower on the same 2,000 SBIR rows (56
against 1,600 bids/s, measured side by side). Each batch is committed, so a crash loses at
most one batch and a re-run completes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select, update

from bids.database import db, utcnow
from bids.imports.organisations import OrganisationCache
from bids.imports.report import ImportReport, RowProblem
from bids.imports.rows import COMPARED_COLUMNS, CleanRow, bid_values, changed_values
from bids.models import Attachment, Bid, OrgKind, Revision
from bids.publishing import GENERATED_PREFIX
from bids.revisions import revision_snapshot

BATCH_SIZE = 1000


class BatchWriter:
    """Collects clean rows and writes them a batch at a time, one commit per batch.

    `record_changes(bid_ids)` runs in each batch's transaction with the bids it wrote: bulk
    statements bypass the ORM session events that record which bids changed.
    """

    def __init__(
        self,
        report: ImportReport,
        applicant_kind: str,
        record_changes: Callable[[Iterable[int]], object] | None = None,
    ):
        self.report = report
        self.record_changes = record_changes
        self.orgs = OrganisationCache(applicant_kind)
        self.rows: list[CleanRow] = []
        self.identifiers: set[str] = set()

    def add(self, row: CleanRow) -> None:
        identifier = row.fields.get("identifier")
        # A full batch is written before the next row, so the last rows wait for `flush()`;
        # the same bid twice in one batch: the earlier row is written, the later one updates it.
        if len(self.rows) >= BATCH_SIZE or (identifier and identifier in self.identifiers):
            self.flush()
        self.rows.append(row)
        if identifier:
            self.identifiers.add(identifier)

    def flush(self) -> None:
        if not self.rows:
            return
        try:
            self._write(self.rows)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        self.rows, self.identifiers = [], set()

    def _write(self, rows: list[CleanRow]) -> None:
        report, now = self.report, utcnow()
        existing = self._existing(
            [r.fields["identifier"] for r in rows if r.fields.get("identifier")]
        )
        new_rows: list[dict[str, Any]] = []
        updates: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (old, new values)
        self.orgs.prepare(
            party
            for row in rows
            for party in (
                (row.organisation, self.orgs.applicant_kind),
                (row.funder, OrgKind.FUNDER),
            )
        )
        for row in rows:
            identifier = row.fields.get("identifier")
            org_id = self.orgs.resolve(row.organisation)
            funder_id = self.orgs.resolve(row.funder)
            values = bid_values(row, org_id, funder_id)
            old = existing.get(identifier) if identifier else None
            if old is None:
                if identifier and identifier.startswith(GENERATED_PREFIX):
                    report.skipped += 1
                    report.problems.append(
                        RowProblem(
                            row.line,
                            f"identifier: no bid {identifier}; identifiers starting "
                            f"{GENERATED_PREFIX} are assigned by Open Bids",
                        )
                    )
                    continue
                values.update(
                    identifier=identifier or f"pending-{uuid.uuid4().hex}",
                    created_at=now,
                    updated_at=now,
                    published_at=now,
                )
                new_rows.append(values)
                continue
            changes = {k: v for k, v in changed_values(row, values).items() if old[k] != v}
            if not changes:
                report.unchanged += 1
                report.bid_ids.append(old["id"])
                continue
            changes["updated_at"] = now
            if old["published_at"] is None:
                changes["published_at"] = now
            updates.append((old, changes))
        touched = self._insert(new_rows) + self._update(updates)
        if self.record_changes is not None:
            self.record_changes(touched)

    def _existing(self, identifiers: list[str]) -> dict[str, dict[str, Any]]:
        if not identifiers:
            return {}
        columns = [
            getattr(Bid, name) for name in ("id", "identifier", "published_at", *COMPARED_COLUMNS)
        ]
        result = db.session.execute(select(*columns).where(Bid.identifier.in_(identifiers)))
        return {row.identifier: dict(row._mapping) for row in result}

    def _insert(self, values: list[dict[str, Any]]) -> list[int]:
        if not values:
            return []
        bids = Bid.__table__  # Core executemany: the ORM bulk path costs twice as much here
        result = db.session.execute(
            bids.insert().returning(bids.c.id, bids.c.identifier, sort_by_parameter_order=True),
            values,
        )
        ids = []
        renames = []
        for bid_values_, (bid_id, identifier) in zip(values, result, strict=True):
            ids.append(bid_id)
            bid_values_["id"] = bid_id
            if identifier.startswith("pending-"):
                bid_values_["identifier"] = f"{GENERATED_PREFIX}{bid_id}"
                renames.append({"id": bid_id, "identifier": bid_values_["identifier"]})
        if renames:
            db.session.execute(update(Bid), renames)
        db.session.execute(
            Revision.__table__.insert(),
            [
                {
                    "bid_id": v["id"],
                    "number": 1,
                    "note": "Imported",
                    "created_at": v["created_at"],
                    "snapshot": self._snapshot(v, []),
                }
                for v in values
            ],
        )
        self.report.imported += len(values)
        self.report.bid_ids.extend(ids)
        return ids

    def _update(self, updates: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[int]:
        if not updates:
            return []
        ids = [old["id"] for old, _ in updates]
        numbers = dict(
            db.session.execute(
                select(Revision.bid_id, func.max(Revision.number))
                .where(Revision.bid_id.in_(ids))
                .group_by(Revision.bid_id)
            ).all()
        )
        files: dict[int, list[str]] = {}
        for bid_id, filename in db.session.execute(
            select(Attachment.bid_id, Attachment.filename)
            .where(Attachment.bid_id.in_(ids))
            .order_by(Attachment.id)
        ):
            files.setdefault(bid_id, []).append(filename)
        # One UPDATE statement per distinct set of changed columns (executemany by id).
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        revisions = []
        for old, changes in updates:
            groups.setdefault(tuple(sorted(changes)), []).append({"id": old["id"], **changes})
            state = {**old, **changes}
            revisions.append(
                {
                    "bid_id": old["id"],
                    "number": (numbers.get(old["id"]) or 0) + 1,
                    "note": "Imported (updated)",
                    "created_at": changes["updated_at"],
                    "snapshot": self._snapshot(state, files.get(old["id"], [])),
                }
            )
        for params in groups.values():
            db.session.execute(update(Bid), params)
        db.session.execute(Revision.__table__.insert(), revisions)
        self.report.updated += len(updates)
        self.report.bid_ids.extend(ids)
        return ids

    def _snapshot(self, values: dict[str, Any], attachments: list[str]) -> dict[str, Any]:
        names = self.orgs.names
        return revision_snapshot(
            values,
            organisation=names.get(values["organisation_id"]),
            funder=names.get(values["funder_id"]),
            attachments=attachments,
        )
