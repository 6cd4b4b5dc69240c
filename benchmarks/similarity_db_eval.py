"""The database matcher beside the file store on the same corpus (issue 11): quality and speed.

    python -m benchmarks.similarity_db_eval --database-url postgresql+psycopg://u:p@host/db
    python -m benchmarks.similarity_db_eval --database-url ... --distractors 4000 --pairs 400

Both stores are fitted on the same SBIR abstracts (`similarity_eval.load_corpus`), so their
vocabularies and rows are the same numbers. Per clean pair's query, the file store scores
every row (`scores_for`); the database store reads its candidates by SQL
(`DbSnapshot.candidates`) and scores those with the same code. The re-ranker is trained on
the file store's features of the other half of the firms and applied to both. Each
database query is timed end to end: the SQL candidates, reading their rows, the scores, the
features and the re-ranking (the app's `similar` adds reading the matched bids).
The tables are dropped afterwards: use a scratch database.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sqlalchemy import create_engine

from benchmarks.similarity_eval import (
    COLUMNS,
    Corpus,
    EngineRun,
    Ranked,
    _training_set,
    engine_run,
    figures,
    load_corpus,
    reranked,
)
from search_index.similarity.db_models import (
    SimilarityGeneration,
    SimilarityTerm,
    SimilarityVector,
    SimilarityVocabulary,
)
from search_index.similarity.db_store import DbStore
from search_index.similarity.matching import scores_for
from search_index.similarity.rerank import RERANK_DEPTH, Reranker, pair_features, shipped
from search_index.similarity.store import Doc

TABLES = [
    m.__table__
    for m in (SimilarityGeneration, SimilarityVocabulary, SimilarityVector, SimilarityTerm)
]


def database_run(corpus: Corpus, queries: list[int], store: DbStore) -> tuple[EngineRun, float]:
    """The database store's ranking of every query; (EngineRun, seconds to rebuild)."""
    docs = [Doc(i, int(corpus.firms[i]), True, t) for i, t in enumerate(corpus.texts)]
    started = time.perf_counter()
    with store.locked():
        store.rebuild(docs)
    rebuild_s = time.perf_counter() - started
    print(f"database store rebuilt in {rebuild_s:.1f} s", file=sys.stderr)
    snap = store.snapshot()
    assert snap is not None
    model = shipped()
    ranked, feats, seconds = {}, {}, []
    for q in queries:
        own = snap.neighbourhood(q)  # the query's own stored row (and its neighbours)
        p = own.position_of(q)
        assert p is not None
        qrow, sig = own.row_vector(p), own.row_signature(p)
        started = time.perf_counter()
        cands = snap.candidates(qrow, None, exclude=q)
        score, resemblance = scores_for(cands, qrow, sig)
        ids = cands.base.rows["bid_id"]
        top = np.lexsort((ids, -score))[:RERANK_DEPTH]  # as `_top`: best first, ties by id
        if len(top):
            feats[q] = pair_features(
                qrow,
                sp.vstack([cands.row_vector(int(r)) for r in top]),
                score[top],
                resemblance[top],
                snap.vectoriser.column_stats,
            )
            if model is not None:
                model.order(feats[q], resemblance[top])
        seconds.append(time.perf_counter() - started)
        full = np.zeros(len(corpus.texts), dtype=np.float32)  # rows never read score 0
        full[ids] = score
        ranked[q] = Ranked(ids[top], full)
    return EngineRun(ranked, feats, snap.n_features, seconds), rebuild_s


def evaluate(corpus: Corpus, scratch: Path, url: str) -> dict:
    positions = {identifier: i for i, identifier in enumerate(corpus.ids)}
    queries = sorted({positions[p[s]] for p in corpus.pairs for s in ("a", "b")})
    started = time.perf_counter()
    files = engine_run(corpus, queries, scratch / "files")
    files_s = time.perf_counter() - started
    print(f"file store built and queried in {files_s:.1f} s", file=sys.stderr)
    engine = create_engine(url)
    for table in reversed(TABLES):
        table.drop(engine, checkfirst=True)
    for table in TABLES:
        table.create(engine)
    try:
        database, rebuild_s = database_run(corpus, queries, DbStore(scratch, engine=engine))
    finally:
        for table in reversed(TABLES):
            table.drop(engine, checkfirst=True)
        engine.dispose()
    results: dict = {
        "records": len(corpus.ids),
        "terms": files.n_terms,
        "files_build_and_queries_s": files_s,
        "database_rebuild_s": rebuild_s,
        "files_ms": np.percentile(files.seconds, [50, 95]) * 1000,
        "database_ms": np.percentile(database.seconds, [50, 95]) * 1000,
        "same_top": float(
            np.mean(
                [
                    np.array_equal(files.ranked[q].order[:10], database.ranked[q].order[:10])
                    for q in queries
                ]
            )
        ),
        "halves": {},
    }
    for half in (0, 1):
        held = {q for q in queries if corpus.halves[q] == half}
        train = {q for q in queries if corpus.halves[q] != half}
        model = Reranker.fit(*_training_set(files, corpus, positions, train))
        results["halves"][half] = {
            "files, cosine + passages": figures(files.ranked, corpus, positions, held),
            "database, cosine + passages": figures(database.ranked, corpus, positions, held),
            "files, re-ranked": figures(reranked(files, model, held), corpus, positions, held),
            "database, re-ranked": figures(
                reranked(database, model, held & set(database.features)),
                corpus,
                positions,
                held & set(database.features),
            ),
        }
    return results


def format_results(r: dict) -> str:
    lines = [
        f"{r['records']:,} records, {r['terms']:,} terms; database rebuild "
        f"{r['database_rebuild_s']:.1f} s; one query (candidates, scores, features, "
        f"re-ranking): files p50 {r['files_ms'][0]:.1f} / p95 {r['files_ms'][1]:.1f} ms, "
        f"database p50 {r['database_ms'][0]:.1f} / p95 {r['database_ms'][1]:.1f} ms; "
        f"same top 10 (before re-ranking) for {r['same_top']:.1%} of queries",
        f"{'half / store':40} " + " ".join(f"{c:>16}" for c in COLUMNS) + "  queries",
    ]
    for half, rows in r["halves"].items():
        for name, fig in rows.items():
            lines.append(
                f"{f'half {half}: {name}':40} "
                + " ".join(f"{fig[c]:>16.3f}" for c in COLUMNS)
                + f"  {fig['queries']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.similarity_db_eval", description=__doc__
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SIMILARITY_EVAL_DATABASE_URL"),
        help="a scratch database (PostgreSQL or SQLite); default: a temporary SQLite file",
    )
    parser.add_argument("--distractors", type=int, help="pairs' records plus this many others")
    parser.add_argument("--pairs", type=int, help="query only the first N clean pairs' records")
    args = parser.parse_args(argv)
    corpus = load_corpus(distractors=args.distractors)
    if args.pairs is not None:
        corpus.pairs = corpus.pairs[: args.pairs]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'eval.sqlite3'}"
        print(format_results(evaluate(corpus, Path(tmp), url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
