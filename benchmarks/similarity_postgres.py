"""The similarity benchmark's PostgreSQL rows: the database store (`SIMILARITY_BACKEND=database`,
the matcher every node shares) rebuilt from the bids copied into PostgreSQL, then the same
similar-bids sample as the file store, compared with the file store's answers, and one
changed bid applied. Given by `python -m benchmarks --postgres URL`, as the search column.
"""

from __future__ import annotations

from benchmarks import BenchContext, Row, Stopwatch
from benchmarks.search_postgres import postgres_copy
from benchmarks.similarity_bench import similar_bids_row


def measure(ctx: BenchContext, sample: list[int], files: dict[int, list[int]]) -> list[Row]:
    """`files`: each sampled bid's similar bids (ids, best first) from the file store."""
    from bids.database import db
    from bids.models import Bid
    from search_index import similarity

    app = postgres_copy(ctx)
    rows: list[Row] = []
    with app.app_context():
        with Stopwatch() as rebuild:
            stored = similarity.rebuild()
        rows.append(
            Row(
                "postgres: database store rebuild (refit)",
                round(rebuild.seconds, 1),
                "s",
                note=f"{stored:,} bids",
            )
        )
        latency_row, found = similar_bids_row("postgres: similar bids for one bid p95", sample)
        rows.append(latency_row)
        same = sum(found.get(bid_id) == files.get(bid_id) for bid_id in sample)
        rows.append(
            Row(
                "postgres: similar bids the same as the file store's",
                round(same / max(1, len(sample)), 3),
                "",
                note="share of the sampled bids whose ten similar bids are the same, in order",
            )
        )
        bid = db.session.get(Bid, sample[0])
        with Stopwatch() as one:
            similarity.apply_changes(db.session, [bid.id], [])
            db.session.commit()
        rows.append(Row("postgres: apply one changed bid", round(one.seconds * 1000), "ms"))
        db.session.remove()
        db.engine.dispose()
    return rows
