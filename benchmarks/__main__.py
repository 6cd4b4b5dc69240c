"""`python -m benchmarks [--only NAME] [--limit N] [--scale N] [--postgres URL] [--output PATH]`.

See `benchmarks/__init__`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks import (
    BENCHMARKS,
    CORPUS,
    RESULTS_DIR,
    BenchContext,
    format_table,
    run_benchmarks,
    write_results,
)
from benchmarks.search_postgres import check_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--limit", type=int, help="import only the first N corpus rows")
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="the corpus N times over, e.g. 10 for 420k bids (new identifiers)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("BENCH_POSTGRES_URL") or None,
        help="also measure search on PostgreSQL: a postgresql+psycopg:// database on localhost "
        "that is emptied first (default $BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus file (SBIR JSONL)")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="where to write the results as JSON",
    )
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        parser.error(f"the corpus is missing: {args.corpus}")
    if args.postgres:
        try:
            check_url(args.postgres)
        except ValueError as exc:
            parser.error(str(exc))

    ctx = BenchContext(
        limit=args.limit,
        corpus_path=args.corpus,
        scale=max(1, args.scale),
        postgres_url=args.postgres,
    )
    try:
        rows, errors = run_benchmarks(ctx, args.only or BENCHMARKS)
    finally:
        ctx.close()
    print()
    print(format_table(rows))
    for error in errors:
        print(f"ERROR {error}")
    write_results(rows, errors, ctx, args.output)
    print(f"\nResults written to {args.output}")
    failed = [row for row in rows if row.passed is False]
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
