"""Benchmarks of Open Bids at corpus scale: `python -m benchmarks` (`make bench`).

    python -m benchmarks                      # every benchmark, the whole SBIR corpus (41,999 bids)
    python -m benchmarks --only similarity    # one benchmark (`make eval`); repeatable
    python -m benchmarks --limit 2000         # a quick run on the first 2,000 corpus rows

Writing a benchmark
-------------------
A benchmark is a module `benchmarks/<name>_bench.py` exposing::

    def run(ctx: BenchContext) -> list[Row]: ...

and registered by adding its `<name>` to `BENCHMARKS` below (one line). Benchmarks run in
that order, in one process, sharing one `BenchContext`:

- `ctx.app`: a Flask app built by `create_app` on a fresh temporary instance folder (SQLite
  file database, search index and similarity folders inside it), with the schema created
  and the SBIR corpus (`ctx.corpus_path`) imported through `bids.imports` the first time
  it is read. Use `with ctx.app.app_context(): ...` (or `ctx.app_context()`).
- `ctx.import_report`: the importer's `ImportReport` (counts, seconds, bids/s).
  The import leaves its index work queued in the outbox (`IndexOutbox`, one "search" and
  one "similar" row per bid; only an import of at most SEARCH_SYNC_AFTER_COMMIT bids has
  them applied by its last commit): nothing is indexed yet. A benchmark that needs an index
  builds it (and deals with those queued rows, which later commits would otherwise drain).
- `ctx.limit`: `--limit N` or None; `ctx.quick` is True when a limit is given.
- `ctx.postgres_url`: `--postgres URL` or None: a database on this machine the search
  benchmark empties and copies the bids into, for its PostgreSQL column.
- `ctx.shared_data`: the shared data folder (`../shared/data`), e.g. `eval/sbir-pairs.jsonl`.
- `ctx.scratch`: a temporary folder of your own (`ctx.scratch / "fts5.sqlite3"`).
- `ctx.state`: a dict where one benchmark may leave something for a later one.

`Row(name, figure, unit, target="", passed=None, note="")` is one line of the final table;
build them with `Row.at_least(name, figure, unit, minimum)` / `Row.at_most(name, figure, unit,
maximum)` when there is a target, or `Row(name, figure, unit)` for a plain figure. Helpers:
`percentiles(samples)` -> `{"p50", "p95", "max"}`, `time_calls(fn, items)` -> latencies in ms,
`Stopwatch`, `cpu_seconds()`, `peak_rss_mb()` and `current_rss_mb()`.

At the end the harness prints a plain-text table (name, figure, unit, target, pass/fail) and
writes `bench-results/latest.json`; it exits 1 when a target is missed or a benchmark raised.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("OPENBIDS_SHARED_DATA", ROOT.parent / "shared" / "data"))
CORPUS = SHARED_DATA / "sbir-awards.jsonl.gz"
RESULTS_DIR = ROOT / "bench-results"

# One line per benchmark module `benchmarks/<name>_bench.py`, run in this order.
BENCHMARKS: list[str] = [
    "import",
    "search",
    "similarity",
    "pools",
    "insights",
    "opendata",
]


@dataclass
class Row:
    """One measured figure: `passed` is None when the figure has no target."""

    name: str
    figure: float
    unit: str
    target: str = ""
    passed: bool | None = None
    note: str = ""
    benchmark: str = ""

    @classmethod
    def at_least(cls, name: str, figure: float, unit: str, minimum: float, note: str = "") -> Row:
        return cls(name, figure, unit, f">= {minimum:g}", figure >= minimum, note)

    @classmethod
    def at_most(cls, name: str, figure: float, unit: str, maximum: float, note: str = "") -> Row:
        return cls(name, figure, unit, f"<= {maximum:g}", figure <= maximum, note)


# VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak.
_PRINT_PEAK = """
for _line in open("/proc/self/status"):
    if _line.startswith("VmHWM:"):
        print(int(_line.split()[1]) // 1024)
"""


def fresh_process_peak_mb(ctx: BenchContext, script: str, *args: str, timeout: int = 600) -> int:
    """Peak RSS (MiB) of a new Python process running `script`, which reads the app's config
    as JSON from sys.argv[1] (then `args`): what a web worker holds, apart from the bench
    process's import and scratch state."""
    done = subprocess.run(
        [sys.executable, "-c", script + _PRINT_PEAK, json.dumps(ctx.app_config()), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=timeout,
    )
    return int(done.stdout.strip().splitlines()[-1])


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used: a figure that other load cannot inflate."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory now, in MiB (from /proc; falls back to the peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def percentiles(samples: Iterable[float], points: Iterable[int] = (50, 95)) -> dict[str, float]:
    """Nearest-rank percentiles (`p50`, `p95`, ...) plus `max` and `mean` of the samples."""
    values = sorted(samples)
    if not values:
        raise ValueError("percentiles of no samples")
    out = {}
    for p in points:
        rank = max(1, math.ceil(p / 100 * len(values)))
        out[f"p{p}"] = values[rank - 1]
    out["max"] = values[-1]
    out["mean"] = sum(values) / len(values)
    return out


def time_calls(fn: Callable[[Any], Any], items: Iterable[Any], *, warmup: int = 1) -> list[float]:
    """Call `fn(item)` for each item; latencies in milliseconds (after `warmup` untimed calls)."""
    items = list(items)
    for item in items[:warmup]:
        fn(item)
    latencies = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass
class BenchContext:
    """What benchmarks share: one app with the corpus imported once (see the module docstring)."""

    limit: int | None = None
    corpus_path: Path = CORPUS
    scale: int = 1  # `--scale 10`: the corpus ten times over (new identifiers, varied text)
    postgres_url: str | None = None  # `--postgres URL`: search measured on PostgreSQL too
    shared_data: Path = SHARED_DATA
    workdir: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)
    import_report: Any = None
    catch_up: Any = None  # search_index.catchup.CatchUpReport of the import
    import_rss_mb: float | None = None
    import_cpu_s: float | None = None
    _app: Any = None
    _owns_workdir: bool = False

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="openbids-bench-"))
            self._owns_workdir = True
        self.scratch = self.workdir / "scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)

    @property
    def quick(self) -> bool:
        return self.limit is not None

    @property
    def instance_dir(self) -> Path:
        return self.workdir / "instance"

    def app_config(self) -> dict[str, Any]:
        instance = self.instance_dir
        return {
            "ENV_NAME": "development",
            "DEBUG": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'bench.sqlite3'}",
            "INSTANCE_DIR": str(instance),
            "UPLOAD_DIR": str(instance / "uploads"),
            "SEARCH_INDEX_DIR": str(instance / "search-index"),
            "SIMILARITY_DIR": str(instance / "similarity"),
            "RATELIMIT_ENABLED": False,
            "SEED_DEMO": False,
        }

    @property
    def app(self):
        """The app with the corpus imported (imported on first use)."""
        if self._app is None:
            self._app = self._build_app()
        return self._app

    @contextmanager
    def app_context(self) -> Iterator[Any]:
        with self.app.app_context():
            yield self.app

    def _build_app(self):
        from bids import imports
        from bids.database import db
        from portal import create_app
        from portal.commands.imports import index_hooks

        app = create_app(self.app_config())
        with app.app_context():
            db.create_all()
            cpu = cpu_seconds()
            path = self.corpus_path if self.scale <= 1 else self._scaled_corpus()
            limit = self.limit * self.scale if self.limit and self.scale > 1 else self.limit
            finished: list[Any] = []
            # As `import-bids` does: it returns once every bid is searchable and matchable.
            self.import_report = imports.import_bids(
                path,
                limit=limit,
                progress=True,
                hooks=index_hooks(progress=True, finished=finished),
            )
            self.catch_up = finished[0] if finished else None
            report = self.import_report
            if report.skipped:
                first = report.problems[0] if report.problems else None
                print(f"bench import: {report.skipped:,} rows skipped (first: {first})", flush=True)
            self.import_cpu_s = cpu_seconds() - cpu
            self.import_rss_mb = peak_rss_mb()
            db.session.remove()
        return app

    def _scaled_corpus(self) -> Path:
        """The corpus `scale` times over: copy k of a record gets identifier `<id>-copy<k>` and its
        abstract's sentences rotated by k (lightly varied text, same vocabulary)."""
        import gzip
        import itertools

        path = self.scratch / f"corpus-x{self.scale}.jsonl.gz"
        with gzip.open(self.corpus_path, "rt", encoding="utf-8") as source:
            records = [json.loads(line) for line in itertools.islice(source, self.limit)]
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
            for copy in range(self.scale):
                for record in records:
                    if copy:
                        # A valid identifier (letters, digits, . _ : / -): "~" was refused,
                        # so every copy was skipped and "420k" measured 42k.
                        record = dict(record, identifier=f"{record['identifier']}-copy{copy}")
                        sentences = (record.get("abstract") or "").split(". ")
                        shift = copy % max(1, len(sentences))
                        record["abstract"] = ". ".join(sentences[shift:] + sentences[:shift])
                    out.write(json.dumps(record) + "\n")
        return path

    def close(self) -> None:
        if self._app is not None:
            from bids.database import db

            with self._app.app_context():
                db.session.remove()
                db.engine.dispose()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def ensure_similarity_store() -> float:
    """Build the similarity store if none exists (seconds taken, 0 if it existed), then drop the
    import's queued "similar" rows it covers: what an operator does after a large import
    (`similarity rebuild`), so later commits do not apply 42k queued rows 2,000 at a time."""
    from sqlalchemy import delete

    from bids.database import db
    from bids.models import IndexOutbox
    from search_index import similarity

    seconds = 0.0
    if similarity.get_store().snapshot() is None:
        with Stopwatch() as sw:
            similarity.rebuild()
        seconds = sw.seconds
    db.session.execute(delete(IndexOutbox).where(IndexOutbox.target == "similar"))
    db.session.commit()
    return seconds


def run_benchmarks(ctx: BenchContext, names: Iterable[str]) -> tuple[list[Row], list[str]]:
    """Run the named benchmarks in order; the rows, and one message per benchmark that raised."""
    rows: list[Row] = []
    errors: list[str] = []
    for name in names:
        started = time.perf_counter()
        print(f"== {name} ==", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}_bench")
            produced = module.run(ctx)
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            import traceback

            traceback.print_exc()
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        for row in produced:
            row.benchmark = name
            rows.append(row)
        print(f"   {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return rows, errors


def format_table(rows: list[Row]) -> str:
    header = ("benchmark", "name", "figure", "unit", "target", "result")
    lines = [header]
    for row in rows:
        result = "-" if row.passed is None else ("pass" if row.passed else "FAIL")
        lines.append((row.benchmark, row.name, _fmt(row.figure), row.unit, row.target, result))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    for row in rows:
        if row.note:
            out.append(f"note: {row.benchmark}/{row.name}: {row.note}")
    return "\n".join(out)


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def write_results(rows: list[Row], errors: list[str], ctx: BenchContext, path: Path) -> None:
    import json
    import platform

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "limit": ctx.limit,
        "scale": ctx.scale,
        "machine": {"python": platform.python_version(), "cpus": _cpu_count()},
        "rows": [asdict(row) for row in rows],
        "errors": errors,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def _cpu_count() -> int | None:
    import os

    return os.cpu_count()
