"""Matching quality on the clean SBIR pairs: the engine beside the plain TF-IDF baseline,
in one run on one corpus, cross-fitted over two halves of the firms.

    python -m benchmarks.similarity_eval                     # the whole corpus (slow)
    python -m benchmarks.similarity_eval --distractors 4000  # pairs' records + 4,000 others
    python -m benchmarks.similarity_eval --write-model       # retrain reranker.json on all pairs

Every method reads the abstracts alone (the labels come from titles). Firms are split in two
halves by a stable hash of the firm's name; the re-ranker is trained on one half's queries
and reported on the other's, and the reverse, so no figure comes from data it was fitted
on. The firm is read only to split and to count lenient recall@1 (a query is right when
everything ranked above its partner is another award of the query's own firm).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from search_index.similarity.matching import scores_for
from search_index.similarity.rerank import (
    MODEL_PATH,
    RERANK_DEPTH,
    Reranker,
    pair_features,
)
from search_index.similarity.store import Doc, Store

SHARED_DATA = Path(
    os.environ.get("OPENBIDS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
COLUMNS = ("recall@1", "lenient recall@1", "recall@10", "MRR@10", "ROC-AUC")


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]
    firms: np.ndarray  # firm index per record
    halves: np.ndarray  # 0 or 1 per record, from the firm's name
    pairs: list[dict]


def firm_half(name: str) -> int:
    """Stable half of a firm: the same on every machine and run."""
    return zlib.crc32(" ".join(name.lower().split()).encode()) & 1


def load_corpus(
    shared: Path = SHARED_DATA,
    distractors: int | None = None,
    seed: int = 15,
    limit: int | None = None,
) -> Corpus:
    """The SBIR abstracts (all, the first `limit`, or the clean pairs' records plus
    `distractors` others drawn with a fixed seed) and the clean pairs among them."""
    with gzip.open(shared / "sbir-awards.jsonl.gz", "rt") as handle:
        records = [json.loads(line) for line in handle]
    if limit is not None:
        records = records[:limit]
    with open(shared / "eval" / "sbir-pairs-clean.jsonl") as handle:
        pairs = [json.loads(line) for line in handle]
    if distractors is not None:
        wanted = {p[s] for p in pairs for s in ("a", "b")}
        chosen = [r for r in records if r["identifier"] in wanted]
        others = [r for r in records if r["identifier"] not in wanted]
        chosen += random.Random(seed).sample(others, min(distractors, len(others)))
        records = chosen
    records = [r for r in records if (r.get("abstract") or "").strip()]
    known = {r["identifier"] for r in records}
    pairs = [p for p in pairs if p["a"] in known and p["b"] in known]
    names = sorted({r["org"] or "" for r in records})
    firm_index = {n: i for i, n in enumerate(names)}
    return Corpus(
        [r["identifier"] for r in records],
        [r["abstract"] for r in records],
        np.array([firm_index[r["org"] or ""] for r in records]),
        np.array([firm_half(r["org"] or "") for r in records]),
        pairs,
    )


@dataclass
class Ranked:
    """One query's candidates: positions in rank order and a score per position."""

    order: np.ndarray  # the top candidates, best first
    scores: np.ndarray  # score of every corpus row (the cut order beyond the top)
    top_scores: np.ndarray | None = None  # scores of `order` when they differ from `scores`


def _rank_of(r: Ranked, query: int, partner: int) -> tuple[int, np.ndarray]:
    """1-based rank of the partner, and the positions ranked above it."""
    hits = np.flatnonzero(r.order == partner)
    if hits.size:
        return int(hits[0]) + 1, r.order[: hits[0]]
    above = np.flatnonzero(r.scores > r.scores[partner])
    above = above[above != query]
    above = np.union1d(above, r.order)
    return len(above) + 1, above


def _pair_score(r: Ranked, partner: int) -> float:
    if r.top_scores is not None:
        hits = np.flatnonzero(r.order == partner)
        if hits.size:  # ranked by the model: above every candidate it did not see
            return 2.0 + float(1 / (1 + np.exp(-r.top_scores[hits[0]])))
    return float(r.scores[partner])


def figures(
    ranked: dict[int, Ranked], corpus: Corpus, positions: dict[str, int], queries: set[int]
) -> dict[str, float]:
    """The table's columns over the positive pairs whose query is in `queries`; ROC-AUC
    over the labelled pairs (positive and negative) whose records are in `queries`."""
    from sklearn.metrics import roc_auc_score

    ranks, lenient = [], []
    labels, scores = [], []
    for pair in corpus.pairs:
        a, b = positions[pair["a"]], positions[pair["b"]]
        if a in queries and b in queries:
            labels.append(pair["label"])
            scores.append((_pair_score(ranked[a], b) + _pair_score(ranked[b], a)) / 2)
        if pair["label"] != 1:
            continue
        for x, y in ((a, b), (b, a)):
            if x not in queries:
                continue
            rank, above = _rank_of(ranked[x], x, y)
            ranks.append(rank)
            lenient.append(bool(np.all(corpus.firms[above] == corpus.firms[x])))
    ranks_a = np.array(ranks)
    return {
        "recall@1": float((ranks_a <= 1).mean()),
        "lenient recall@1": float(np.mean(lenient)),
        "recall@10": float((ranks_a <= 10).mean()),
        "MRR@10": float(np.where(ranks_a <= 10, 1 / ranks_a, 0).mean()),
        "ROC-AUC": float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else float("nan"),
        "recall@100": float((ranks_a <= 100).mean()),
        "queries": len(ranks_a),
    }


def _top(scores: np.ndarray, query: int, depth: int = RERANK_DEPTH) -> np.ndarray:
    scores = scores.copy()
    scores[query] = -np.inf
    top = np.argpartition(-scores, depth - 1)[:depth]
    return top[np.lexsort((top, -scores[top]))]


def baseline_ranked(corpus: Corpus, queries: list[int]) -> dict[int, Ranked]:
    """The plain baseline: uni+bigrams, sublinear tf, English stop words, min_df 2,
    max_df 0.5, cosine, brute force."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words="english",
        min_df=2,
        max_df=0.5,
        dtype=np.float32,
    ).fit_transform(corpus.texts)
    out = {}
    for start in range(0, len(queries), 256):
        chunk = queries[start : start + 256]
        block = (matrix[chunk] @ matrix.T).toarray()
        for q, row in zip(chunk, block, strict=True):
            out[q] = Ranked(_top(row, q), row)
    return out


@dataclass
class EngineRun:
    ranked: dict[int, Ranked]
    features: dict[int, np.ndarray]
    n_terms: int
    seconds: list[float]  # per query: scores, features and re-ranking, no database


def engine_run(
    corpus: Corpus, queries: list[int], store_dir: Path, stale_share: float | None = None
) -> EngineRun:
    """The engine's own store and scores (`scores_for`: cosine lifted to passage
    resemblance) on the abstracts; with `stale_share`, the vocabulary is fitted on that
    share of the records and the rest arrive later through the delta, as after an import
    that was never followed by a rebuild."""
    docs = [Doc(i, int(corpus.firms[i]), True, t) for i, t in enumerate(corpus.texts)]
    store = Store(store_dir, refit_below=0)
    with store.locked():
        if stale_share is None:
            snap = store.rebuild(docs)
        else:
            cut = int(len(docs) * stale_share)
            order = random.Random(7).sample(range(len(docs)), len(docs))
            store.rebuild([docs[i] for i in sorted(order[:cut])])
            store.growth_factor = float("inf")
            snap = store.change([docs[i] for i in sorted(order[cut:])], [])
    rows, _ = snap.all_rows()
    by_doc = np.empty(len(rows), dtype=np.int64)  # store position -> corpus position
    by_doc[:] = rows["bid_id"]
    back = np.empty(len(rows), dtype=np.int64)
    back[by_doc] = np.arange(len(rows))
    _matrix, sigs = snap.matrix(), np.asarray(snap.signatures())
    columns = snap.vectoriser.column_stats
    ranked, feats, seconds = {}, {}, []
    model = Reranker.from_json(json.loads(MODEL_PATH.read_text())) if MODEL_PATH.exists() else None
    for q in queries:
        p = int(back[q])
        started = time.perf_counter()
        qrow = snap.row_vector(p)
        score, resemblance = scores_for(snap, qrow, sigs[p])
        top_rows = _top(score, p)  # store positions, as the app ranks them
        feats[q] = pair_features(
            qrow,
            sp.vstack([snap.row_vector(int(r)) for r in top_rows]),
            score[top_rows],
            resemblance[top_rows],
            columns,
        )
        if model is not None:
            model.order(feats[q], resemblance[top_rows])
        seconds.append(time.perf_counter() - started)
        score = score[back]  # in corpus order
        ranked[q] = Ranked(by_doc[top_rows], score)
    return EngineRun(ranked, feats, snap.n_features, seconds)


def _training_set(
    run: EngineRun, corpus: Corpus, positions: dict[str, int], queries: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    partners: dict[int, set[int]] = {}
    for pair in corpus.pairs:
        if pair["label"] == 1:
            a, b = positions[pair["a"]], positions[pair["b"]]
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
    xs, ys = [], []
    for q in sorted(queries & set(partners)):
        xs.append(run.features[q])
        ys.append(np.isin(run.ranked[q].order, list(partners[q])))
    return np.concatenate(xs), np.concatenate(ys).astype(int)


def reranked(run: EngineRun, model: Reranker, queries: set[int]) -> dict[int, Ranked]:
    out = {}
    for q in queries:
        r = run.ranked[q]
        resemblance = run.features[q][:, 3]
        order = model.order(run.features[q], resemblance)
        out[q] = Ranked(r.order[order], r.scores, model.score(run.features[q])[order])
    return out


def evaluate(corpus: Corpus, scratch: Path, *, stale: bool = True) -> dict:
    """Every method's figures on each half of the firms (the re-ranker trained on the other)."""
    positions = {identifier: i for i, identifier in enumerate(corpus.ids)}
    queries = sorted(
        {positions[p[s]] for p in corpus.pairs if p["label"] == 1 for s in ("a", "b")}
        | {positions[p[s]] for p in corpus.pairs for s in ("a", "b")}
    )
    base = baseline_ranked(corpus, queries)
    engine = engine_run(corpus, queries, scratch / "engine")
    results: dict = {
        "terms": engine.n_terms,
        "records": len(corpus.ids),
        "halves": {},
        "match_ms_p50": float(np.percentile(engine.seconds, 50) * 1000),
        "match_ms_p95": float(np.percentile(engine.seconds, 95) * 1000),
    }
    stale_run = engine_run(corpus, queries, scratch / "stale", stale_share=0.5) if stale else None
    for half in (0, 1):
        held = {q for q in queries if corpus.halves[q] == half}
        train = {q for q in queries if corpus.halves[q] != half}
        model = Reranker.fit(*_training_set(engine, corpus, positions, train))
        row = {
            "baseline TF-IDF": figures(base, corpus, positions, held),
            "engine, cosine + passages": figures(engine.ranked, corpus, positions, held),
            "engine, re-ranked (trained on the other half)": figures(
                reranked(engine, model, held), corpus, positions, held
            ),
        }
        if stale_run is not None:
            row["engine, vocabulary fitted on half, never refitted"] = figures(
                stale_run.ranked, corpus, positions, held
            )
        results["halves"][half] = row
    return results


def train_shipped_model(corpus: Corpus, scratch: Path) -> Reranker:
    """The model shipped in the package: trained on every clean pair's queries."""
    positions = {identifier: i for i, identifier in enumerate(corpus.ids)}
    queries = sorted({positions[p[s]] for p in corpus.pairs if p["label"] == 1 for s in ("a", "b")})
    run = engine_run(corpus, queries, scratch / "ship")
    return Reranker.fit(*_training_set(run, corpus, positions, set(queries)))


def format_results(results: dict) -> str:
    lines = [
        f"{results['records']:,} records, {results['terms']:,} terms; "
        f"one query's scores, features "
        f"and re-ranking (no database): p50 {results['match_ms_p50']:.1f} ms, "
        f"p95 {results['match_ms_p95']:.1f} ms",
        f"{'half / method':62} " + " ".join(f"{c:>16}" for c in COLUMNS) + "  queries",
    ]
    for half, rows in results["halves"].items():
        for name, fig in rows.items():
            lines.append(
                f"{f'half {half}: {name}':62} "
                + " ".join(f"{fig[c]:>16.3f}" for c in COLUMNS)
                + f"  {fig['queries']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.similarity_eval", description=__doc__
    )
    parser.add_argument("--distractors", type=int, help="pairs' records plus this many others")
    parser.add_argument("--write-model", action="store_true", help=f"retrain {MODEL_PATH.name}")
    parser.add_argument("--no-stale", action="store_true", help="skip the stale-vocabulary run")
    args = parser.parse_args(argv)
    corpus = load_corpus(distractors=args.distractors)
    with tempfile.TemporaryDirectory() as tmp:
        if args.write_model:
            model = train_shipped_model(corpus, Path(tmp))
            MODEL_PATH.write_text(json.dumps(model.to_json(), indent=1) + "\n")
            print(f"wrote {MODEL_PATH}")
            return 0
        print(format_results(evaluate(corpus, Path(tmp), stale=not args.no_stale)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
