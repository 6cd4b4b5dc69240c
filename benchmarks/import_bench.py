"""Import benchmark: the SBIR corpus through `bids.imports` into a fresh SQLite file DB.

The context's first use of `ctx.app` performs the import (once, for every later benchmark);
this module reports what it measured: throughput (target >= 500 bids/s), duration, skipped
rows, peak RSS; then a second import of the same rows (idempotent re-import: all unchanged).
"""

from __future__ import annotations

from sqlalchemy import func, select

from benchmarks import BenchContext, Row, Stopwatch, peak_rss_mb

TARGET_BIDS_PER_S = 500


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
    return rows
