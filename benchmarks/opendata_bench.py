"""Open data benchmark: the 360Giving exports (JSON package, flattened CSV, XLSX) and
`export dump` over the imported corpus, each in a fresh process (time, size, peak RSS: what
one web worker or one cron run holds); then the 360Giving imports of the shared UK package
and the two publishers' spreadsheets into a database of their own (counts and timings).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import ROOT, BenchContext, Row, Stopwatch, ensure_similarity_store

# `all=1`: every public bid, not only awarded grants (the SBIR corpus's awards carry no
# decision date, which the standard requires of a grant, so its grants-only form is empty).
EXPORTS = (
    ("360Giving JSON", "/api/v1/360giving.json?all=1"),
    ("360Giving CSV", "/api/v1/360giving.csv?all=1"),
    ("360Giving XLSX", "/api/v1/360giving.xlsx?all=1"),
)
SHEETS = "uk360giving/spreadsheets"
UK_FILES = (
    ("UK 360Giving package", "uk360giving/grants.json.gz"),
    ("Indigo Trust CSV", f"{SHEETS}/indigo-trust-2001-2015.csv"),
    ("Lloyds Bank Foundation XLSX", f"{SHEETS}/lloyds-bank-foundation-2010-2015.xlsx"),
)

# Run in a new process: sys.argv = [-c, app config (JSON), what, argument]; prints a JSON
# line {seconds, bytes, status, peak_mb}.
_SCRIPT = """
import json, sys, time
from pathlib import Path
from portal import create_app

app = create_app(json.loads(sys.argv[1]))
what, argument = sys.argv[2], sys.argv[3]
start = time.perf_counter()
if what == "get":
    response = app.test_client().get(argument, buffered=False)
    size = sum(len(chunk) for chunk in response.iter_encoded())
    response.close()
    status = response.status_code
else:
    from portal.commands.dump import dump_command

    with app.app_context():  # what `flask --app portal export dump DIR` runs
        dump_command.callback(Path(argument), "http://localhost")
    status = 0
    size = sum(p.stat().st_size for p in Path(argument).rglob("*") if p.is_file())
seconds = time.perf_counter() - start
peak = next(int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "bytes": size, "status": status, "peak_mb": peak}))
"""


def _fresh(ctx: BenchContext, what: str, argument: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(ctx.app_config()), what, argument],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=1800,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _export_rows(ctx: BenchContext, grants: int, bids: int) -> list[Row]:
    """`grants`: how many of the `bids` are grants in the standard's sense (awarded, dated)."""
    rows: list[Row] = []
    runs = [(name, "get", url) for name, url in EXPORTS]
    runs.append(("export dump", "dump", str(ctx.scratch / "dump")))
    for name, what, argument in runs:
        result = _fresh(ctx, what, argument)
        if result["status"] not in (0, 200):
            raise RuntimeError(f"{name} answered {result['status']}")
        size = result["bytes"] / 2**20
        note = f"{size:.1f} MiB written, {bids:,} public bids ({grants:,} grants)"
        rows.append(Row(f"{name}: time", round(result["seconds"], 1), "s", note=note))
        rows.append(Row(f"{name}: peak RSS (fresh process)", result["peak_mb"], "MiB"))
    return rows


def _import_rows(ctx: BenchContext) -> list[Row]:
    """Each shared UK file into a fresh database: counts, skips and time until searchable
    (the publishers' licence is not in the files: CC BY 4.0 is given, as `--licence` would)."""
    from bids.database import db
    from portal import create_app
    from portal.commands.imports import import_bids

    rows: list[Row] = []
    for name, relative in UK_FILES:
        path = ctx.shared_data / relative
        if not path.exists():
            rows.append(Row(f"{name}: import", 0, "grants", note=f"missing: {path}"))
            continue
        folder = ctx.scratch / ("uk-" + Path(relative).stem.replace(".", "-"))
        config = {
            **ctx.app_config(),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'uk.sqlite3'}",
            "INSTANCE_DIR": str(folder),
            "UPLOAD_DIR": str(folder / "uploads"),
            "SEARCH_INDEX_DIR": str(folder / "search-index"),
            "SIMILARITY_DIR": str(folder / "similarity"),
        }
        app = create_app(config)
        with app.app_context():
            db.create_all()
            with Stopwatch() as sw:
                # `--limit N` reads the first N grants of each file too (a quick run).
                report = import_bids(path, licence="CC-BY-4.0", limit=ctx.limit)
            rows.append(
                Row(
                    f"{name}: grants imported",
                    report.imported,
                    "grants",
                    note=f"{report.skipped} skipped; {report.summary()}",
                )
            )
            rows.append(Row(f"{name}: import until searchable", round(sw.seconds, 1), "s"))
            db.session.remove()
            db.engine.dispose()
    return rows


def run(ctx: BenchContext) -> list[Row]:
    from sqlalchemy import func, select

    from bids.database import db
    from bids.models import Bid, BidStatus
    from search_index import get_index, rebuild_search_index

    app = ctx.app
    rows: list[Row] = []
    with app.app_context():
        if get_index().searcher().doc_count() == 0:
            with Stopwatch() as sw:
                rebuild_search_index(db.session)
            rows.append(Row("search index build (before exports)", round(sw.seconds, 1), "s"))
        ensure_similarity_store()  # else the exports' first commit-free reads see a queue
        bids = db.session.scalar(select(func.count(Bid.id)))
        grants = db.session.scalar(
            select(func.count(Bid.id)).where(
                Bid.status == BidStatus.AWARDED,
                Bid.amount_awarded_minor.is_not(None),
                Bid.decided_on.is_not(None),
            )
        )
        db.session.remove()
    rows += _export_rows(ctx, grants or 0, bids or 0)
    rows += _import_rows(ctx)
    return rows
