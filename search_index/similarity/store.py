"""The persisted matcher: TF-IDF vectors and MinHash signatures of every bid, on disk.

Layout of `SIMILARITY_DIR` (all derived from the database, safe to delete):

    manifest.json        {"base": "gen-000003", "delta": "delta-000017.npz", ...}
    gen-000003/          one fitted generation, written once, memory-mapped on load
        vocab.json       the vectoriser's terms in column order
        idf.npy          their inverse document frequencies
        X.*.npy          row-normalised TF-IDF rows (CSR: data, indices, indptr)
        XT.*.npy         the same matrix by term (for fast scoring of a query's terms)
        sig.npy          MinHash signatures (n x 64 uint32)
        rows.npy         per row: bid id, organisation id, public flag
    delta-000017.npz     bids added or changed since the generation (same vocabulary) and the
                         generation's rows they replace or delete

A change rewrites only the small delta file and the manifest (atomic renames, under a
file lock); readers in other processes notice the manifest changed and reload the delta.
`rebuild` refits the vocabulary from all bids and starts a new generation; small stores
(under REFIT_BELOW bids) refit on every change, which is cheap and keeps the vocabulary complete.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from search_index.similarity.rerank import ColumnStats
from search_index.similarity.text import SIGNATURE_SIZE, signature

# Measured on the SBIR pairs (see benchmarks/similarity_bench.py): word unigrams and bigrams,
# sublinear tf, English stop words; min_df=2 / max_df=0.5 keep a quarter of the terms at
# the same recall. Tiny corpora keep every term (each is distinctive there).
NGRAMS = (1, 2)
LARGE_CORPUS = 1000
# Below this many bids every change refits everything (well under a second), keeping the
# vocabulary complete; above it changes go to the delta, refitted by `rebuild` or on doubling.
REFIT_BELOW = 300
# A change that would grow the store past this many times the bids its vocabulary was fitted
# on refits it: words new since the fit count for nothing in the delta (measured in
# docs/similarity.md). Each refit at least doubles the fitted corpus at 2.0, keeping the total
# refitting work of a bulk load linear in the corpus.
REFIT_GROWTH = 2.0
MAX_TEXT_CHARS = 200_000
ROW_DTYPE = np.dtype([("bid_id", "<i8"), ("org_id", "<i8"), ("public", "?")])


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One writer at a time across processes: an exclusive lock on `folder/.lock`."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Doc:
    """What the store keeps about one bid."""

    bid_id: int
    org_id: int
    public: bool
    text: str


class Vectoriser:
    """TF-IDF with a fixed vocabulary: new texts are transformed without refitting."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray):
        self.terms = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)
        self._counter = CountVectorizer(
            vocabulary={t: i for i, t in enumerate(vocabulary)},
            ngram_range=NGRAMS,
            stop_words="english",
            dtype=np.float32,
        )

    @property
    def column_stats(self) -> ColumnStats:
        """Per-column figures the re-ranker reads (`rerank.ColumnStats`); computed once."""
        cached = self.__dict__.get("_column_stats")
        if cached is None:
            cached = self.__dict__["_column_stats"] = ColumnStats.of(self.terms, self.idf)
        return cached

    @property
    def word_columns(self) -> np.ndarray:
        """Boolean per column: the term is one word (not a bigram); computed once."""
        cached = self.__dict__.get("_word_columns")
        if cached is None:
            cached = self.__dict__["_word_columns"] = np.fromiter(
                (" " not in t for t in self.terms), dtype=bool, count=len(self.terms)
            )
        return cached

    @classmethod
    def fit(cls, texts: list[str]) -> tuple[Vectoriser, sp.csr_matrix]:
        large = len(texts) >= LARGE_CORPUS
        tfidf = TfidfVectorizer(
            ngram_range=NGRAMS,
            sublinear_tf=True,
            stop_words="english",
            dtype=np.float32,
            min_df=2 if large else 1,
            max_df=0.5 if large else 1.0,
        )
        try:
            matrix = tfidf.fit_transform([t[:MAX_TEXT_CHARS] for t in texts])
        except ValueError:  # no usable words at all (empty or stop-words-only corpus)
            return cls([], np.zeros(0, dtype=np.float32)), sp.csr_matrix(
                (len(texts), 0), dtype=np.float32
            )
        vectoriser = cls(list(tfidf.get_feature_names_out()), tfidf.idf_)
        return vectoriser, _canonical(matrix)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not self.terms:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        counts = self._counter.transform([t[:MAX_TEXT_CHARS] for t in texts]).astype(np.float32)
        counts.data = np.log(counts.data) + 1.0  # sublinear tf, as TfidfVectorizer computes it
        weighted = counts @ sp.diags(self.idf)
        return _canonical(_l2_rows(sp.csr_matrix(weighted)))


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)


def _canonical(matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sort_indices()
    matrix.indices = matrix.indices.astype(np.int32)
    matrix.indptr = matrix.indptr.astype(np.int64)
    return matrix


def _row(matrix: sp.csr_matrix, i: int) -> sp.csr_matrix:
    """Row i as a 1-row CSR, reading only its slice: `matrix[i]` on the mapped matrix (int32
    indices, int64 indptr) first copies every index to one dtype, ~2 ms a row (measured)."""
    start, end = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
    return sp.csr_matrix(
        (
            np.asarray(matrix.data[start:end]),
            np.asarray(matrix.indices[start:end]),
            np.array([0, end - start], dtype=np.int64),
        ),
        shape=(1, matrix.shape[1]),
    )


class RowTerms(NamedTuple):
    """One stored row's columns (ascending) and weights, as a CSR row has them."""

    indices: np.ndarray
    data: np.ndarray


def _row_keys(segment: Segment) -> dict[bytes, int]:
    """Each row's bid by everything the matcher reads of it (who sees it, its TF-IDF row and
    its passages' signature): a row changed in any of these has another key."""
    cached = segment.__dict__.get("_keys")
    if cached is not None:
        return cached
    X, keys = segment.X, {}
    for i in range(len(segment)):
        lo, hi = int(X.indptr[i]), int(X.indptr[i + 1])
        key = b"".join(
            (
                segment.rows[i].tobytes(),
                np.asarray(segment.sig[i]).tobytes(),
                np.asarray(X.indices[lo:hi]).tobytes(),
                np.asarray(X.data[lo:hi]).tobytes(),
            )
        )
        keys[key] = int(segment.rows["bid_id"][i])
    segment.__dict__["_keys"] = keys
    return keys


@dataclass
class Segment:
    """Rows of bids: TF-IDF matrix, MinHash signatures and who may see each."""

    rows: np.ndarray  # ROW_DTYPE
    X: sp.csr_matrix
    sig: np.ndarray

    @classmethod
    def empty(cls, n_features: int) -> Segment:
        return cls(
            np.zeros(0, dtype=ROW_DTYPE),
            sp.csr_matrix((0, n_features), dtype=np.float32),
            np.zeros((0, SIGNATURE_SIZE), dtype=np.uint32),
        )

    @classmethod
    def build(cls, docs: list[Doc], matrix: sp.csr_matrix) -> Segment:
        rows = np.array([(d.bid_id, d.org_id, d.public) for d in docs], dtype=ROW_DTYPE)
        sig = (
            np.stack([signature(d.text) for d in docs])
            if docs
            else np.zeros((0, SIGNATURE_SIZE), dtype=np.uint32)
        )
        return cls(rows, matrix, sig)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Snapshot:
    """One consistent view of the store, as loaded by a reader."""

    key: tuple
    vectoriser: Vectoriser
    base: Segment
    XT: sp.csr_matrix  # base.X transposed (terms x rows)
    base_alive: np.ndarray  # bool per base row
    delta: Segment

    @property
    def n_features(self) -> int:
        return len(self.vectoriser.terms)

    def lexical_scores(self, q: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of the query row with every base row and every delta row."""
        base = np.zeros(len(self.base), dtype=np.float32)
        if q.nnz and len(self.base):
            postings = self.XT[q.indices]  # only the query's terms' columns are touched
            base = np.asarray(postings.T @ q.data, dtype=np.float32).ravel()
        delta = (
            np.asarray((self.delta.X @ q.T).todense(), dtype=np.float32).ravel()
            if len(self.delta) and q.nnz
            else np.zeros(len(self.delta), dtype=np.float32)
        )
        return base, delta

    def lexical_scores_many(self, queries: sp.csr_matrix) -> np.ndarray:
        """`lexical_scores` of each query row at once, base then delta rows side by side
        (queries x rows): one sparse product over the postings of all the queries' terms, instead
        of reading them again for each query. Each cosine is the same sum in the same order (the
        query's terms, ascending), so every row equals its query's `lexical_scores` bit for bit.
        The product reads the postings in place: gathering the queries' terms' rows of `XT`
        first copied them (a third of a neighbourhood's scoring), and the result is written
        into one array, not stacked and converted (another sixth)."""
        out = np.zeros((queries.shape[0], len(self.base) + len(self.delta)), dtype=np.float32)
        if queries.nnz and len(self.base):
            out[:, : len(self.base)] = (_canonical(queries) @ self.XT).toarray()
        if queries.nnz and len(self.delta):
            out[:, len(self.base) :] = (self.delta.X @ queries.T).toarray().T
        return out

    def lexical_scores_between(self, queries: sp.csr_matrix, positions: list[int]) -> np.ndarray:
        """The columns at `positions` of `lexical_scores_many(queries)` (queries x positions),
        the same numbers, without the product over every row: each cosine summed in the order
        that product sums it (the query's terms for a base row, the row's for a delta row)."""
        out = np.zeros((queries.shape[0], len(positions)), dtype=np.float32)
        if not queries.nnz or not positions:
            return out
        at = np.asarray(positions)
        base, delta = np.flatnonzero(at < len(self.base)), np.flatnonzero(at >= len(self.base))
        if base.size:
            rows = self.rows_of([int(p) for p in at[base]])
            out[:, base] = np.asarray((queries @ rows.T).toarray(), dtype=np.float32)
        if delta.size:
            rows = self.rows_of([int(p) for p in at[delta]])
            out[:, delta] = np.asarray((rows @ queries.T).toarray().T, dtype=np.float32)
        return out

    def changed_since(self, older: Snapshot) -> set[int] | None:
        """The bids whose rows differ between `older` and this view, when this one follows
        from it by changes alone (the same fitted generation); None when it does not."""
        if (
            type(older) is not type(self)
            or older.key[0] != self.key[0]
            or len(older.base) != len(self.base)
            or bool(np.any(self.base_alive & ~older.base_alive))  # a refit, not a change
        ):
            return None
        died = older.base_alive & ~self.base_alive  # a changed row leaves the base for the delta
        changed = set(self.base.rows["bid_id"][died].tolist())
        before, after = _row_keys(older.delta), _row_keys(self.delta)
        changed.update(bid for key, bid in before.items() if key not in after)
        changed.update(bid for key, bid in after.items() if key not in before)
        return changed

    def rows_view(self, bid_ids: list[int]) -> tuple[Snapshot, dict[int, int]]:
        """A view holding these bids' live rows (here the whole store), and their positions."""
        rows, alive = self.all_rows()
        hits = np.flatnonzero(alive & np.isin(rows["bid_id"], bid_ids))
        return self, {int(rows["bid_id"][p]): int(p) for p in hits}

    def rows_of(self, positions: list[int]) -> sp.csr_matrix:
        """The rows at `positions`, in that order, read slice by slice (as `row_vector`)."""
        if not positions:
            return sp.csr_matrix((0, self.n_features), dtype=np.float32)
        return sp.vstack([self.row_vector(p) for p in positions], format="csr")

    def unfitted_rows(self) -> int:
        """Live rows added since the vocabulary was fitted."""
        return len(self.delta)

    def unfitted_share(self) -> float:
        """Share of the live rows added since the vocabulary was fitted (the delta)."""
        live = int(self.base_alive.sum()) + len(self.delta)
        return len(self.delta) / live if live else 0.0

    def all_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Row metadata of base then delta, and whether each row is live (computed once)."""
        cached = self.__dict__.get("_all_rows")
        if cached is None:
            rows = np.concatenate([self.base.rows, self.delta.rows])
            alive = np.concatenate([self.base_alive, np.ones(len(self.delta), dtype=bool)])
            cached = self.__dict__["_all_rows"] = (rows, alive)
        return cached

    def row_vector(self, position: int) -> sp.csr_matrix:
        if position < len(self.base):
            return _row(self.base.X, position)
        return _row(self.delta.X, position - len(self.base))

    def row_terms(self, position: int) -> RowTerms:
        """The row's terms and weights as they are stored, with no matrix built round them
        (what shared words and terms read: a 1-row CSR costs ~50 us to make)."""
        X, i = (
            (self.base.X, position)
            if position < len(self.base)
            else (
                self.delta.X,
                position - len(self.base),
            )
        )
        lo, hi = int(X.indptr[i]), int(X.indptr[i + 1])
        return RowTerms(np.asarray(X.indices[lo:hi]), np.asarray(X.data[lo:hi]))

    def row_signature(self, position: int) -> np.ndarray:
        if position < len(self.base):
            return np.asarray(self.base.sig[position])
        return self.delta.sig[position - len(self.base)]

    def position_of(self, bid_id: int) -> int | None:
        rows, alive = self.all_rows()
        hits = np.flatnonzero((rows["bid_id"] == bid_id) & alive)
        return int(hits[-1]) if hits.size else None

    def signatures(self) -> np.ndarray:
        if not len(self.delta):
            return self.base.sig
        cached = self.__dict__.get("_signatures")
        if cached is None:
            cached = self.__dict__["_signatures"] = np.concatenate(
                [np.asarray(self.base.sig), self.delta.sig]
            )
        return cached

    def matrix(self) -> sp.csr_matrix:
        return (
            sp.vstack([self.base.X, self.delta.X], format="csr") if len(self.delta) else self.base.X
        )

    # The rows a query is ranked over: every row here; the database store (`db_store`)
    # reads only the candidates near the query.
    def candidates(self, q: sp.csr_matrix, user=None, exclude: int | None = None) -> Snapshot:
        return self

    def neighbourhood(self, bid_id: int) -> Snapshot:
        return self

    def neighbourhoods(self, bid_ids: list[int]) -> list[tuple[Snapshot, list[int]]]:
        """`neighbourhood` of many bids: the rows each is ranked over, and the bids ranked over
        them (here one view for all)."""
        return [(self, list(bid_ids))]

    def whole(self) -> Snapshot:
        return self


class Store:
    """Reads and writes the files under one directory; one per app."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        refit_below: int = REFIT_BELOW,
        growth_factor: float = REFIT_GROWTH,
    ):
        self.dir = Path(directory)
        self.refit_below = refit_below
        self.growth_factor = growth_factor
        self._snapshot: Snapshot | None = None

    # --- reading --------------------------------------------------------------------------

    def manifest(self) -> dict | None:
        """The store's manifest: the generation, its delta, when it was fitted (`built_at`)."""
        return self._manifest()

    def _manifest(self) -> dict | None:
        try:
            return json.loads((self.dir / "manifest.json").read_text())
        except FileNotFoundError:
            return None

    def _written_snapshot(self) -> Snapshot:
        """The snapshot just written (its manifest exists, so there is one)."""
        snap = self.snapshot()
        assert snap is not None, "the manifest was just written"
        return snap

    def snapshot(self) -> Snapshot | None:
        """The current view, reloaded when another process changed the store."""
        manifest = self._manifest()
        if manifest is None:
            self._snapshot = None
            return None
        key = (manifest["base"], manifest.get("delta"))
        cached = self._snapshot
        if cached is not None and cached.key == key:
            return cached
        try:
            self._snapshot = self._load(manifest, key, cached)
        except FileNotFoundError:  # a writer swapped files between our reads: read again
            time.sleep(0.05)
            return self.snapshot()
        return self._snapshot

    def _load(self, manifest: dict, key: tuple, cached: Snapshot | None) -> Snapshot:
        gen = self.dir / manifest["base"]
        if cached is not None and cached.key[0] == key[0]:
            vectoriser, base, XT = cached.vectoriser, cached.base, cached.XT
        else:
            terms = json.loads((gen / "vocab.json").read_text())
            vectoriser = Vectoriser(terms, np.load(gen / "idf.npy"))
            base = Segment(
                np.load(gen / "rows.npy"),
                _load_csr(gen, "X"),
                np.load(gen / "sig.npy", mmap_mode="r"),
            )
            XT = _load_csr(gen, "XT")
        base_alive = np.ones(len(base), dtype=bool)
        delta = Segment.empty(len(vectoriser.terms))
        if key[1]:
            with np.load(self.dir / key[1]) as f:
                base_alive[f["dead"]] = False
                delta = Segment(
                    f["rows"],
                    sp.csr_matrix(
                        (f["data"], f["indices"], f["indptr"]),
                        shape=(len(f["rows"]), len(vectoriser.terms)),
                    ),
                    f["sig"],
                )
        return Snapshot(key, vectoriser, base, XT, base_alive, delta)

    # --- writing --------------------------------------------------------------------------

    @contextmanager
    def locked(self):
        with folder_lock(self.dir):
            yield

    def rebuild(self, docs: list[Doc]) -> Snapshot:
        """Fit a new generation from every bid (the caller holds the lock)."""
        vectoriser, matrix = Vectoriser.fit([d.text for d in docs])
        base = Segment.build(docs, matrix)
        name = f"gen-{time.time_ns():020d}"
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=self.dir))
        (tmp / "vocab.json").write_text(json.dumps(vectoriser.terms))
        np.save(tmp / "idf.npy", vectoriser.idf)
        np.save(tmp / "rows.npy", base.rows)
        np.save(tmp / "sig.npy", base.sig)
        _save_csr(tmp, "X", matrix)
        _save_csr(tmp, "XT", _canonical(matrix.T.tocsr()))
        os.replace(tmp, self.dir / name)
        self._write_manifest(
            {
                "base": name,
                "delta": None,
                "built_at": time.time(),
                "bids": len(docs),
                "terms": len(vectoriser.terms),
            }
        )
        self._cleanup(keep={name})
        return self._written_snapshot()

    def change(self, upserts: list[Doc], deletes: list[int], all_docs=None) -> Snapshot:
        """Apply upserts and deletes (the caller holds the lock).

        `all_docs()` returns every bid's Doc; it is called to refit when the store is
        missing or small. Otherwise the changed bids go to the delta with the existing vocabulary.
        """
        snap = self.snapshot()
        if snap is None or (all_docs is not None and self.needs_refit(snap, len(upserts))):
            if all_docs is None:
                raise RuntimeError("The similarity store is empty: rebuild it first.")
            return self.rebuild(all_docs())
        changed = {d.bid_id for d in upserts} | set(deletes)
        dead = set(np.flatnonzero(~snap.base_alive).tolist())
        dead.update(np.flatnonzero(np.isin(snap.base.rows["bid_id"], list(changed))).tolist())
        keep = ~np.isin(snap.delta.rows["bid_id"], list(changed))
        fresh = Segment.build(upserts, snap.vectoriser.transform([d.text for d in upserts]))
        rows = np.concatenate([snap.delta.rows[keep], fresh.rows])
        X = (
            sp.vstack([snap.delta.X[np.flatnonzero(keep)], fresh.X], format="csr")
            if len(rows)
            else sp.csr_matrix((0, snap.n_features), dtype=np.float32)
        )
        X = _canonical(X)
        sig = np.concatenate([snap.delta.sig[keep], fresh.sig])
        name = f"delta-{time.time_ns():020d}.npz"
        tmp = self.dir / f".{name}"
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                rows=rows,
                data=X.data,
                indices=X.indices,
                indptr=X.indptr,
                sig=sig,
                dead=np.array(sorted(dead), dtype=np.int64),
            )
        os.replace(tmp, self.dir / name)
        manifest = self._manifest() or {}
        old_delta = manifest.get("delta")
        manifest.update({"delta": name, "changed_at": time.time()})
        self._write_manifest(manifest)
        if old_delta:
            (self.dir / old_delta).unlink(missing_ok=True)
        return self._written_snapshot()

    def needs_refit(self, snap: Snapshot, incoming: int) -> bool:
        """Refit when small (cheap), or when the bids outside the fitted vocabulary (the delta
        plus `incoming`) would grow the store past `growth_factor` times the fitted bids."""
        if len(snap.base) + len(snap.delta) < self.refit_below:
            return True
        outside = len(snap.delta) + incoming
        return outside > max(self.refit_below, len(snap.base) * (self.growth_factor - 1))

    def _write_manifest(self, manifest: dict) -> None:
        tmp = self.dir / ".manifest.json"
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, self.dir / "manifest.json")

    def _cleanup(self, keep: set[str]) -> None:
        # Readers that still map old files keep them open; unlinking is safe on POSIX.
        manifest = self._manifest() or {}
        for entry in self.dir.iterdir():
            if entry.name.startswith("gen-") and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith("delta-") and entry.name != manifest.get("delta"):
                entry.unlink(missing_ok=True)


def _save_csr(directory: Path, name: str, matrix: sp.csr_matrix) -> None:
    np.save(directory / f"{name}.data.npy", matrix.data)
    np.save(directory / f"{name}.indices.npy", matrix.indices)
    np.save(directory / f"{name}.indptr.npy", matrix.indptr)
    (directory / f"{name}.shape.json").write_text(json.dumps(list(matrix.shape)))


def _load_csr(directory: Path, name: str) -> sp.csr_matrix:
    shape = tuple(json.loads((directory / f"{name}.shape.json").read_text()))
    parts = [
        np.load(directory / f"{name}.{part}.npy", mmap_mode="r")
        for part in ("data", "indices", "indptr")
    ]
    matrix = sp.csr_matrix(shape, dtype=np.float32)
    # Assigning the arrays directly keeps them memory-mapped (the constructor would copy).
    matrix.data, matrix.indices, matrix.indptr = parts
    return matrix
