"""One import run: read a file, validate each record, write batches, report what happened.

The domain knows no index: the layer above passes `IndexHooks` to record which bids changed,
to hold index work back while the batches commit, and to catch up once the run is over.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from bids.errors import ValidationError
from bids.imports.readers import FORMATS, ImportFileError, Record, guess_format, read_records
from bids.imports.report import ImportReport, RowProblem
from bids.imports.rows import clean_row, describe
from bids.imports.writer import BatchWriter
from bids.models import OrgKind


@dataclass(frozen=True)
class IndexHooks:
    """What the derived stores need from an import; each does nothing unless given.

    `record_changes(bid_ids)` runs inside each batch's transaction; `defer()` is a context
    manager around all the batches; `after_import(changed)` runs once they are committed, with
    the number of bids imported or updated.
    """

    record_changes: Callable[[Iterable[int]], object] | None = None
    defer: Callable[[], AbstractContextManager[object]] = field(default=contextlib.nullcontext)
    after_import: Callable[[int], object] | None = None


def import_bids(
    path: Path | str,
    *,
    fmt: str | None = None,
    organisation_kind: str = OrgKind.APPLICANT,
    limit: int | None = None,
    progress: bool = False,
    hooks: IndexHooks | None = None,
) -> ImportReport:
    """Import every good row of the file, committing per batch; the counts and problems."""
    hooks = hooks or IndexHooks()
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFileError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    report = ImportReport()
    started = time.perf_counter()
    writer = BatchWriter(report, organisation_kind, hooks.record_changes)
    records: Iterable[Record] = read_records(path, fmt)
    bar = None
    if progress:
        from tqdm import tqdm

        # tqdm disables itself when stderr is not a terminal (disable=None).
        bar = tqdm(
            records, total=limit, unit=" bids", file=sys.stderr, disable=None, mininterval=0.5
        )
        records = bar
    try:
        with hooks.defer():
            _read_into(records, writer, report, fmt, limit)
            writer.flush()
        if hooks.after_import is not None:
            hooks.after_import(report.imported + report.updated)
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _read_into(
    records: Iterable[Record],
    writer: BatchWriter,
    report: ImportReport,
    fmt: str,
    limit: int | None,
) -> None:
    """Validate each record into the writer, which commits full batches; keeps the last one."""
    for count, (line, record) in enumerate(records, start=1):
        if isinstance(record, RowProblem):
            report.skipped += 1
            report.problems.append(record)
        else:
            try:
                writer.add(clean_row(line, record))
            except ValidationError as exc:
                where = "grant" if fmt == "360giving" else "line"
                report.skipped += 1
                report.problems.append(RowProblem(line, describe(exc), where))
        if limit is not None and count >= limit:
            break
