"""Import benchmark: the SBIR corpus through `bids.imports` into a fresh SQLite file DB.

The context's first use of `ctx.app` performs the import (once, for every later benchmark);
this module reports what it measured: throughput (target >= 500 bids/s), duration, skipped
rows, peak RSS; then a second import of the same rows (idempotent re-import: all unchanged);
then memory against file size: a fresh process imports a 5 MB and a 50 MB slice of the corpus
(rows and outbox, `--no-wait`) into a database of its own, and the two peaks are compared (a
reader that streams holds the same memory for both).
"""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import func, select

from benchmarks import BenchContext, Row, Stopwatch, fresh_process_peak_mb, peak_rss_mb

TARGET_BIDS_PER_S = 500
SLICES_MB = (5, 50)
MAX_GROWTH = 1.5  # the 50 MB file's peak over the 5 MB file's

# In a fresh process: argv = [-c, app config, file, folder]; imports FILE into a new SQLite
# database in FOLDER, rows only (what `import-bids --no-wait` does).
_IMPORT_SCRIPT = """
import json, sys
from bids.database import db
from portal import create_app
from portal.commands.imports import import_bids

config, path, folder = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
config.update(
    SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder}/import.sqlite3",
    INSTANCE_DIR=folder,
    UPLOAD_DIR=f"{folder}/uploads",
    SEARCH_INDEX_DIR=f"{folder}/search-index",
    SIMILARITY_DIR=f"{folder}/similarity",
)
with create_app(config).app_context():
    db.create_all()
    import_bids(path, wait=False)
"""


def run(ctx: BenchContext) -> list[Row]:
    from bids.database import db
    from bids.models import Bid, IndexOutbox
    from portal.commands.imports import import_bids

    app = ctx.app  # imports the corpus on first use
    report = ctx.import_report
    throughput = round(
        report.written
        / max(1e-9, report.seconds - sum((ctx.catch_up.seconds if ctx.catch_up else {}).values()))
    )
    if ctx.quick:  # start-up costs dominate a small sample: the target is for the whole file
        speed = Row(
            "import throughput",
            throughput,
            "bids/s",
            note=f"{report.summary()} Target {TARGET_BIDS_PER_S} judged on the full corpus.",
        )
    else:
        speed = Row.at_least(
            "import throughput", throughput, "bids/s", TARGET_BIDS_PER_S, note=report.summary()
        )
    derived = dict(ctx.catch_up.seconds) if ctx.catch_up else {}
    rows_s = report.seconds - sum(derived.values())
    split = ", ".join([f"rows {rows_s:.0f} s"] + [f"{k} {v:.0f} s" for k, v in derived.items()])
    until_ready = (
        Row("import until searchable and matchable", round(report.seconds, 1), "s", note=split)
        if ctx.quick
        else Row.at_most(
            "import until searchable and matchable", round(report.seconds, 1), "s", 300, note=split
        )
    )
    rows = [
        speed,
        until_ready,
        Row("import duration (rows only)", round(rows_s, 1), "s"),
        # Wall-clock figures suffer from whatever else runs on the machine; CPU time does not.
        Row(
            "import CPU time",
            round(ctx.import_cpu_s or 0, 1),
            "s",
            note=f"{report.written / ctx.import_cpu_s:,.0f} bids per CPU-second"
            if ctx.import_cpu_s
            else "",
        ),
        Row("bids imported", report.imported, "bids"),
        # The SBIR file has two awards with no funder: the importer rightly skips them.
        Row(
            "rows skipped (invalid)",
            report.skipped,
            "rows",
            note="; ".join(str(p) for p in report.problems[:5]),
        ),
        Row("peak RSS after import", round(ctx.import_rss_mb or peak_rss_mb()), "MiB"),
    ]
    with app.app_context():
        outbox = db.session.scalar(select(func.count(IndexOutbox.id)))
        bids = db.session.scalar(select(func.count(Bid.id)))
        rows.append(Row("index outbox rows left for the indexers", outbox, "rows"))
        # Re-import a slice: every row is already there, nothing may change.
        sample = min(report.imported, 5000)
        with Stopwatch() as sw:
            again = import_bids(ctx.corpus_path, limit=sample)
        rows.append(
            Row.at_most(
                "re-import changes (idempotence)",
                again.imported + again.updated,
                "bids",
                0,
                note=again.summary(),
            )
        )
        rows.append(
            Row(
                "re-import throughput (unchanged rows)",
                round(again.written / sw.seconds) if sw.seconds else 0,
                "bids/s",
            )
        )
        after = db.session.scalar(select(func.count(Bid.id)))
        rows.append(Row.at_most("duplicate bids after re-import", after - bids, "bids", 0))
        db.session.remove()
    rows.extend(_streaming_rows(ctx))
    return rows


def _write_slice(ctx: BenchContext, megabytes: float) -> Path:
    """The corpus's first records, uncompressed, up to `megabytes` (or the whole file)."""
    path = ctx.scratch / f"slice-{megabytes:g}mb.jsonl"
    budget = int(megabytes * 2**20)
    with gzip.open(ctx.corpus_path, "rb") as source, path.open("wb") as out:
        for line in source:
            if out.tell() + len(line) > budget:
                break
            out.write(line)
    return path


def _streaming_rows(ctx: BenchContext) -> list[Row]:
    """Peak RSS of a fresh process importing a small and a ten-times larger file."""
    scale = 0.01 if ctx.quick else 1  # a quick run checks the plumbing on tiny files
    peaks: list[tuple[float, int]] = []
    for megabytes in (size * scale for size in SLICES_MB):
        path = _write_slice(ctx, megabytes)
        folder = ctx.scratch / f"import-{megabytes:g}mb"
        folder.mkdir(exist_ok=True)
        peak = fresh_process_peak_mb(ctx, _IMPORT_SCRIPT, str(path), str(folder), timeout=1800)
        peaks.append((path.stat().st_size / 2**20, peak))
        path.unlink()
    rows = [
        Row(f"import of a {size:.1f} MB file: peak RSS (fresh process, rows only)", peak, "MiB")
        for size, peak in peaks
    ]
    growth = round(peaks[-1][1] / peaks[0][1], 2)
    note = "memory does not grow with the file: the reader streams"
    if ctx.quick:
        rows.append(Row("import peak RSS, large file over small", growth, "x", note=note))
    else:
        rows.append(Row.at_most("import peak RSS, large file over small", growth, "x", MAX_GROWTH))
    return rows
