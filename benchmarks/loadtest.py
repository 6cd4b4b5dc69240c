"""`make loadtest`: the production shape under load, on SQLite and on PostgreSQL.

    python -m benchmarks.loadtest                     # both databases, the whole SBIR corpus
    python -m benchmarks.loadtest --db sqlite --limit 3000 --duration 30   # a quick look
    python -m benchmarks.loadtest --keep /var/tmp/openbids-load   # prepare once, reuse after

For each database: a fresh instance with the shared SBIR corpus imported and every derived
store built; gunicorn with 4 workers plus `flask --app portal worker` (INDEX_MODE=worker);
then, from loopback only, readers (search with facets, bid pages, similar bids) and writers
(publish, revise, upload a shared PDF) for a bounded time. It prints throughput and
p50/p95/p99 per route, errors, the worker's lag (sampled from /healthz), and then checks that
every acknowledged write is in the database, in search (`index check`) and in similar.
Exits 1 on any error or lost write. PostgreSQL: a local server the role `openbids` can use
(`make postgres` sets one up); `--pg-url` to point elsewhere on this machine.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from benchmarks import CORPUS, ROOT, SHARED_DATA, percentiles

VENV_BIN = Path(sys.executable).parent
FLASK = [str(VENV_BIN / "flask"), "--app", "portal"]
QUERIES = [
    "sensor",
    "battery",
    "radar",
    "laser",
    "water treatment",
    "machine learning",
    "composite materials",
    "fuel cell",
    "wireless network",
    "vaccine",
    "nano*",
    '"thin film"',
    "drone OR unmanned",
    "solar NOT space",
    "corrosion",
]
PDF = SHARED_DATA / "pdfs" / "huber_felix_2015.pdf"
DEFAULT_PG = "postgresql+psycopg://openbids:openbids@localhost/openbids_loadtest"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, status: int, ms: float, detail: str = "") -> None:
        with self.lock:
            self.latencies[route].append(ms)
            self.statuses[route][status] += 1
            if status >= 500 or status == 0:
                self.errors.append(f"{route} {status} {detail}"[:300])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, check=True, text=True, **kwargs)
    print(f"  {' '.join(cmd[3:])}: {time.perf_counter() - started:.1f} s", flush=True)
    return done


def prepare_postgres(url: str) -> None:
    """Drop and create the load test's database (only on this machine's server)."""
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def environment(instance: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "FLASK"))}
    env.update(
        {
            "OPENBIDS_ENV": "production",
            "SECRET_KEY": uuid.uuid4().hex,
            "DATABASE_URL": database_url,
            "INSTANCE_DIR": str(instance),
            "UPLOAD_DIR": str(instance / "uploads"),
            "SEARCH_INDEX_DIR": str(instance / "search"),
            "SIMILARITY_DIR": str(instance / "similarity"),
            "INDEX_MODE": "worker",
            "WORKER_JOBS": "",
            "SESSION_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            # The load test measures the site, not its limits: every caller is one address here.
            "RATELIMIT_API_ANON": "1000000 per minute",
            "RATELIMIT_API_TOKEN": "1000000 per minute",
            "RATELIMIT_SIMILAR": "1000000 per minute",
            "GUNICORN_ACCESS_LOG": "/dev/null",
        }
    )
    return env


def load_corpus(env: dict, limit: int | None, scratch: Path) -> None:
    source = CORPUS
    if limit:
        source = scratch / "corpus.jsonl"
        with gzip.open(CORPUS, "rt") as rows, source.open("w") as out:
            for n, line in enumerate(rows):
                if n >= limit:
                    break
                out.write(line)
    run(FLASK + ["db", "upgrade"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # It returns once every bid is searchable and matchable, clusters included.
    run(FLASK + ["import-bids", str(source)], env, stdout=subprocess.DEVNULL)


def make_writers(env: dict, count: int) -> list[str]:
    tokens = []
    run_id = uuid.uuid4().hex[:6]  # a kept instance already has earlier runs' writers
    for n in range(count):
        email = f"writer{n}-{run_id}@loadtest.invalid"
        run(
            FLASK
            + ["create-user", email, "--name", f"Writer {n}", "--org", f"Load Test {run_id} {n}"],
            env,
            input="load-test-password-123\n",
            stdout=subprocess.DEVNULL,
        )
        out = run(FLASK + ["create-token", email], env, capture_output=True)
        tokens.append(out.stdout.strip().split()[-1])
    return tokens


class Client:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, str(exc).encode(), (time.perf_counter() - started) * 1000
        return status, data, (time.perf_counter() - started) * 1000


def reader(port: int, bid_ids: list[int], deadline: float, stats: Stats, seed: int) -> None:
    rng, client = random.Random(seed), Client(port)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.5:
            route, path = "search", f"/api/v1/bids?q={quote(rng.choice(QUERIES))}&per_page=20"
        elif roll < 0.8:
            route, path = "bid page", f"/bids/{rng.choice(bid_ids)}"
        else:
            route, path = "similar", f"/api/v1/bids/{rng.choice(bid_ids)}/similar?limit=10"
        status, data, ms = client.request("GET", path)
        stats.record(route, status, ms, data[:120].decode(errors="replace"))


def writer(
    port: int,
    token: str,
    texts: list[str],
    deadline: float,
    stats: Stats,
    seed: int,
    every: float = 0.0,
) -> None:
    """Publish, revise or upload, each write as soon as the last is answered, or (`every` > 0)
    one every `every` seconds while the site keeps up."""
    rng, client = random.Random(seed), Client(port)
    auth = {"Authorization": f"Bearer {token}"}
    mine: list[int] = []
    pdf = PDF.read_bytes()
    next_at = time.monotonic() + rng.random() * every  # paced writers start apart
    while time.monotonic() < deadline:
        if every:
            time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
            next_at += every
            if time.monotonic() >= deadline:
                break
        roll = rng.random()
        if roll < 0.5 or not mine:
            body = json.dumps(
                {
                    "title": f"Load test bid {uuid.uuid4().hex[:8]}",
                    "summary": rng.choice(texts),
                    "body": rng.choice(texts),
                    "visibility": "published",
                    "status": "submitted",
                    "funder": {"name": rng.choice(["Valley Fund", "Coastal Trust", "City Fund"])},
                    "amount_requested": str(rng.randrange(1000, 100000)),
                }
            ).encode()
            status, data, ms = client.request(
                "POST", "/api/v1/bids", body, {**auth, "Content-Type": "application/json"}
            )
            stats.record("publish", status, ms, data[:200].decode(errors="replace"))
            if status == 201:
                bid_id = json.loads(data)["id"]
                mine.append(bid_id)
                with stats.lock:
                    stats.acknowledged.append(bid_id)
        elif roll < 0.85:
            body = json.dumps({"summary": rng.choice(texts), "note": "load test"}).encode()
            status, data, ms = client.request(
                "PATCH",
                f"/api/v1/bids/{rng.choice(mine)}",
                body,
                {**auth, "Content-Type": "application/json"},
            )
            stats.record("revise", status, ms, data[:200].decode(errors="replace"))
        else:
            boundary = uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                    f'filename="proposal.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
                ).encode()
                + pdf
                + f"\r\n--{boundary}--\r\n".encode()
            )
            status, data, ms = client.request(
                "POST",
                f"/api/v1/bids/{rng.choice(mine)}/attachments",
                body,
                {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            stats.record("upload PDF", status, ms, data[:200].decode(errors="replace"))


def lag_sampler(port: int, deadline: float, samples: list[float], follow_ups: list[float]) -> None:
    """Each second of the load: the worker's lag in what readers see (search, similar) and in
    the follow-ups (the pools' clusters, the network map), from /healthz. Not after it: the
    catch-up's zeros counted in the p95 once (a minute of them on PostgreSQL)."""
    client = Client(port)
    while time.monotonic() < deadline:
        status, data, _ = client.request("GET", "/healthz")
        if data.startswith(b"{"):
            worker = json.loads(data)["checks"]["worker"]
            samples.append(worker["lag_seconds"])
            follow_ups.append(worker["follow_ups_lag_seconds"])
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))


def _caught_up(port: int) -> bool:
    status, data, _ = Client(port).request("GET", "/healthz")
    if status != 200:
        return False
    worker = json.loads(data)["checks"]["worker"]
    return worker["lag_seconds"] == 0 and worker["follow_ups_lag_seconds"] == 0


def wait_healthy(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = Client(port).request("GET", "/healthz")
        if status in (200, 503):
            return
        time.sleep(0.5)
    raise RuntimeError("gunicorn never answered /healthz")


def verify(env: dict, acknowledged: list[int]) -> dict:
    """In the database, in search, in similar: every acknowledged write."""
    script = (
        "import json, sys\n"
        "from portal import create_app\n"
        "from bids.database import db\n"
        "from bids.models import Bid\n"
        "from search_index import get_index\n"
        "from search_index.similarity import get_store\n"
        "ids = set(json.load(sys.stdin))\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    in_db = set(db.session.scalars(db.select(Bid.id).where(Bid.id.in_(ids))))\n"
        "    drift = get_index().check(db.session)\n"
        "    indexed = set(get_index().stored())\n"
        "    snap = get_store().snapshot()\n"
        "    ids_of, alive = snap.all_rows()\n"
        "    matchable = {int(m['bid_id']) for m, ok in zip(ids_of, alive) if ok}\n"
        "    print(json.dumps({'acknowledged': len(ids), 'missing_db': len(ids - in_db),\n"
        "        'missing_search': len(ids - indexed), 'missing_similar': len(ids - matchable),\n"
        "        'index_drift': drift.total}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        check=True,
        text=True,
        capture_output=True,
        input=json.dumps(acknowledged),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_backend(name: str, database_url: str, args: argparse.Namespace) -> dict:
    if args.keep:  # one folder per database, prepared on the first run and reused after
        scratch = args.keep / ("postgres" if database_url.startswith("postgresql") else "sqlite")
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"openbids-load-{name}-"))
    if database_url.startswith("sqlite") and args.keep:
        database_url = f"sqlite:///{scratch / 'openbids.sqlite3'}"
    env = environment(scratch / "instance", database_url)
    loaded = scratch / "corpus-loaded"
    if loaded.exists():
        print(f"\n== {name}: reusing the instance in {scratch}", flush=True)
        run(FLASK + ["db", "upgrade"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        print(f"\n== {name}: preparing ({args.limit or 'all'} corpus rows)", flush=True)
        if database_url.startswith("postgresql"):
            prepare_postgres(database_url)
        load_corpus(env, args.limit, scratch)
        loaded.write_text(str(args.limit or "all"))
    tokens = make_writers(env, args.writers)
    with gzip.open(CORPUS, "rt") as rows:
        texts = [json.loads(next(rows)).get("abstract", "")[:1500] for _ in range(400)]
    bid_ids = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json\nfrom portal import create_app\n"
                "from bids.database import db\nfrom bids.models import Bid\n"
                "with create_app().app_context():\n"
                "    print(json.dumps(list(db.session.scalars(db.select(Bid.id).limit(20000)))))",
            ],
            env=env,
            cwd=ROOT,
            check=True,
            text=True,
            capture_output=True,
        ).stdout
    )
    port = free_port()
    web = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "portal:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stderr=open(scratch / "gunicorn.log", "w"),  # noqa: SIM115  (the server keeps it)
    )
    worker = subprocess.Popen(
        FLASK + ["worker", "--no-jobs", "--sleep", "0.2"],
        env=env,
        cwd=ROOT,
        stderr=open(scratch / "worker.log", "w"),  # noqa: SIM115  (the worker keeps it)
    )
    stats, lags, follow_ups = Stats(), [], []
    try:
        wait_healthy(port)
        print(
            f"== {name}: {args.readers} readers, {args.writers} writers "
            f"({f'{args.write_rate:g} writes/s in all' if args.write_rate else 'closed loop'}) "
            f"for {args.duration} s",
            flush=True,
        )
        every = args.writers / args.write_rate if args.write_rate else 0.0
        deadline = time.monotonic() + args.duration
        threads = [
            threading.Thread(target=reader, args=(port, bid_ids, deadline, stats, n))
            for n in range(args.readers)
        ]
        threads += [
            threading.Thread(
                target=writer,
                args=(port, tokens[n], texts, deadline, stats, 1000 + n, every),
            )
            for n in range(args.writers)
        ]
        sampler = threading.Thread(target=lag_sampler, args=(port, deadline, lags, follow_ups))
        started = time.monotonic()
        for thread in threads + [sampler]:
            thread.start()
        for thread in threads + [sampler]:
            thread.join()
        elapsed = time.monotonic() - started
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < 600:  # the worker catches up
            if _caught_up(port):
                break
            time.sleep(0.5)
        drained_s = time.monotonic() - drain_started
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    checks = verify(env, stats.acknowledged)
    return {
        "name": name,
        "stats": stats,
        "elapsed": elapsed,
        "lags": lags,
        "follow_ups": follow_ups,
        "drained_s": drained_s,
        "checks": checks,
    }


def report(result: dict) -> bool:
    stats, elapsed = result["stats"], result["elapsed"]
    print(f"\n{result['name']}: {elapsed:.0f} s of load")
    print(
        f"{'route':<12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  statuses"
    )
    for route in sorted(stats.latencies):
        samples = stats.latencies[route]
        p = percentiles(samples, (50, 95, 99))
        codes = stats.statuses[route]
        errors = sum(n for code, n in codes.items() if code >= 500 or code == 0)
        print(
            f"{route:<12}{len(samples):>9}{len(samples) / elapsed:>8.1f}{p['p50']:>9.1f}"
            f"{p['p95']:>9.1f}{p['p99']:>9.1f}{errors:>8}  {dict(sorted(codes.items()))}"
        )
    writes = sum(len(stats.latencies.get(r, ())) for r in ("publish", "revise", "upload PDF"))
    print(
        f"all requests: {sum(map(len, stats.latencies.values())) / elapsed:.1f}/s; "
        f"writes (publish, revise, upload): {writes}, {writes / elapsed:.1f}/s"
    )
    lags = sorted(result["lags"]) or [0.0]
    lag_p95 = lags[min(len(lags) - 1, int(0.95 * len(lags)))]
    follow_ups = sorted(result["follow_ups"]) or [0.0]
    checks = result["checks"]
    lost = checks["missing_db"] + checks["missing_search"] + checks["missing_similar"]
    print(
        f"worker lag (search, similar; {len(result['lags'])} samples during the load): p95 "
        f"{lag_p95:.1f} s, max {lags[-1]:.1f} s (target p95 <= 5 s); "
        "follow-ups (clusters, network map): p95 "
        f"{follow_ups[min(len(follow_ups) - 1, int(0.95 * len(follow_ups)))]:.1f} s, max "
        f"{follow_ups[-1]:.1f} s; all caught up {result['drained_s']:.1f} s after the load stopped"
    )
    print(
        f"acknowledged writes: {checks['acknowledged']}; missing from the database "
        f"{checks['missing_db']}, from search {checks['missing_search']}, from similar "
        f"{checks['missing_similar']}; index check drift {checks['index_drift']}"
    )
    for line in stats.errors[:10]:
        print(f"  error: {line}")
    return not stats.errors and lost == 0 and checks["index_drift"] == 0 and lag_p95 <= 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("LOADTEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--limit", type=int, default=None, help="corpus rows (default: all)")
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--readers", type=int, default=32)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument(
        "--write-rate",
        type=float,
        default=0.0,
        help="writes a second, all writers together (default: each writes as soon as its "
        "last write is answered)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="prepare each database's instance in this folder and reuse it on later runs",
    )
    args = parser.parse_args(argv)
    if not args.pg_url.startswith("postgresql+psycopg://") or "@localhost" not in args.pg_url:
        parser.error("--pg-url must be a postgresql+psycopg:// URL on localhost")
    backends = []
    if args.db in ("sqlite", "both"):
        backends.append(("SQLite + Whoosh", None))
    if args.db in ("postgres", "both"):
        backends.append(("PostgreSQL", args.pg_url))
    ok = True
    results = []
    for name, url in backends:
        if url is None:
            url = f"sqlite:///{tempfile.mkdtemp(prefix='openbids-load-db-')}/openbids.sqlite3"
        results.append(one_backend(name, url, args))
    for result in results:
        ok = report(result) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
