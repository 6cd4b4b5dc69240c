"""The search benchmark's PostgreSQL column: the bench's bids copied into a PostgreSQL database
on this machine, then the same fixed queries, nDCG@10 and known-item search on PostgreSQL's
full-text backend (`SEARCH_BACKEND=postgres`).

Given by `python -m benchmarks --postgres URL` (or `BENCH_POSTGRES_URL`); the database is
emptied first, so the URL must name one of the bench's own (`openbids_bench`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import BenchContext, Row, Stopwatch, percentiles

COPY_BATCH = 2000
# The bench's own tables: what search reads (the outbox and the accounts stay behind).
COPIED_TABLES = ("organisation", "bid", "attachment")


def check_url(url: str) -> str:
    """The URL, if it names a PostgreSQL database on this machine (it will be emptied)."""
    if not url.startswith("postgresql+psycopg://") or not (
        "@localhost" in url or "@127.0.0.1" in url
    ):
        raise ValueError("the PostgreSQL URL must be postgresql+psycopg://...@localhost/<db>")
    return url


def postgres_app(ctx: BenchContext, url: str):
    from bids.database import db
    from portal import create_app

    config = dict(
        ctx.app_config(),
        SQLALCHEMY_DATABASE_URI=url,
        SEARCH_BACKEND="postgres",
        INSTANCE_DIR=str(ctx.scratch / "pg-instance"),
        SIMILARITY_DIR=str(ctx.scratch / "pg-instance" / "similarity"),
        SEARCH_INDEX_DIR=str(ctx.scratch / "pg-instance" / "search-index"),
    )
    app = create_app(config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def copy_bids(source_app, target_app) -> float:
    """Copy the tables search reads, with their ids; seconds taken (the vectors are computed
    by the insert trigger, in the same statements)."""
    from bids.database import db

    with source_app.app_context():
        source = db.engine
        tables = [db.metadata.tables[name] for name in COPIED_TABLES]
    with target_app.app_context():
        target = db.engine
    started = time.perf_counter()
    with source.connect() as reading, target.begin() as writing:
        for table in tables:
            result = reading.execution_options(yield_per=COPY_BATCH).execute(table.select())
            for batch in result.mappings().partitions(COPY_BATCH):
                writing.execute(table.insert(), [dict(row) for row in batch])
            writing.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"coalesce(max(id), 1)) FROM {table.name}"
            )
        writing.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def postgres_copy(ctx: BenchContext):
    """The app on `ctx.postgres_url` with the bench's bids copied in (made once a run, for
    the search and the similarity benchmarks both)."""
    app = ctx.state.get("postgres_app")
    if app is None:
        assert ctx.postgres_url
        app = postgres_app(ctx, ctx.postgres_url)
        ctx.state["postgres_copy_s"] = copy_bids(ctx.app, app)
        ctx.state["postgres_app"] = app
    return app


def measure(
    ctx: BenchContext, queries: list[dict], run_query: Callable[..., Any]
) -> tuple[dict[str, float], list[Row]]:
    """PostgreSQL's figures for the side-by-side table, and its rows of the results table."""
    from sqlalchemy import select, update

    from bids.database import db
    from bids.models import Bid
    from search_index import get_index, outbox
    from search_index.relevance import evaluate, known_item, known_item_sample, load_judgements
    from search_index.service import get_search_service

    app = postgres_copy(ctx)
    copy_s = ctx.state["postgres_copy_s"]
    rows = [Row("postgres: copy of the bids (vectors by trigger)", round(copy_s, 1), "s")]
    with app.app_context():
        with Stopwatch() as sw:
            count = get_index().rebuild(db.session)
        build_s = sw.seconds
        rows.append(Row("postgres: full rebuild of the vectors", round(build_s, 1), "s"))
        service = get_search_service()
        for spec in queries:  # warm-up: the buffer cache and the planner's statistics
            run_query(service, spec)
        samples, plain = [], []
        for _ in range(3):
            for spec in queries:
                start = time.perf_counter()
                run_query(service, spec)
                samples.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                run_query(service, spec, snippets=False)
                plain.append((time.perf_counter() - start) * 1000)
        hot = percentiles(samples)
        rows.append(
            Row.at_most("postgres: p50 with facets and snippets", round(hot["p50"], 1), "ms", 15)
        )
        rows.append(
            Row.at_most(
                "postgres: p95 with facets and snippets",
                round(hot["p95"], 1),
                "ms",
                50,
                note=f"max {hot['max']:.0f} ms; 3 rounds after a warm-up; {count} bids",
            )
        )
        rows.append(
            Row("postgres: p95 with facets, no snippets", round(percentiles(plain)["p95"], 1), "ms")
        )
        # One bid's title changed: the trigger recomputes its vector in the same statement.
        ids = list(db.session.scalars(select(Bid.id).order_by(Bid.id).limit(21)))
        latencies = []
        for n, bid_id in enumerate(ids):
            start = time.perf_counter()
            with outbox.deferred():
                db.session.execute(
                    update(Bid).where(Bid.id == bid_id).values(title=Bid.title + f" (pg {n})")
                )
                db.session.commit()
            latencies.append((time.perf_counter() - start) * 1000)
        update_p95 = percentiles(latencies[1:])["p95"]
        rows.append(Row("postgres: one-bid update p95", round(update_p95, 1), "ms"))
        scores = evaluate(service, load_judgements())
        mean = sum(scores.values()) / len(scores)
        rows.append(
            Row.at_least("postgres: nDCG@10 (judged collection)", round(mean, 3), "", 0.893)
        )
        sample = known_item_sample(300)
        known = known_item(service, sample)
        name = "postgres: known-item (3 title words, bid in the top 3)"
        rows.append(
            Row.at_least(name, round(known, 3), "", 0.95)
            if ctx.scale == 1
            else Row(name, round(known, 3), "")
        )
        second = known_item(service, known_item_sample(300, 0.5))
        rows.append(Row("postgres: known-item, a second sample", round(second, 3), ""))
        db.session.remove()
        db.engine.dispose()
    figures = {"p50": hot["p50"], "p95": hot["p95"], "build_s": build_s, "update_p95": update_p95}
    return figures, rows
