"""The matcher kept in the database, so every node sharing it answers from the same data.

The file store (`store.Store`) keeps the vectors on one node's disk. This one keeps them in
the tables of `db_models`: the fitted vocabulary and idf, each bid's whole TF-IDF row and
MinHash signature, and the postings (bid, weight) of every term. A query is answered in
two steps:

1. candidates in SQL: the sum of query weight x stored weight over the query's
   `QUERY_TERMS` heaviest terms (its rarest, most distinctive ones, whose postings are
   short), grouped by bid, best `CANDIDATE_ROWS` first, among the bids the user may see;
2. those candidates' whole rows are read and handed to the matcher as a small `Snapshot`,
   so the exact cosine, the passages' lift, the re-ranker, the labels and the shared terms
   are the file store's own code on the same numbers.

The same refit policy as the file store: small stores refit on every change; otherwise a
change transforms the bid with the current vocabulary, and `rebuild` refits. Writers take a
lock (an advisory lock on PostgreSQL, a file lock on SQLite); readers never wait, they see
the last committed generation and `version`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Double, Engine, case, cast, delete, func, insert, or_, select, true, update
from sqlalchemy.orm import aliased

from bids.access import real_user
from bids.database import db, utcnow, vacuum_analyze
from search_index.similarity.db_models import (
    SimilarityChange,
    SimilarityGeneration,
    SimilarityTerm,
    SimilarityVector,
    SimilarityVocabulary,
)
from search_index.similarity.store import (
    REFIT_BELOW,
    REFIT_GROWTH,
    ROW_DTYPE,
    Doc,
    Segment,
    Snapshot,
    Vectoriser,
    _canonical,
    folder_lock,
)
from search_index.similarity.text import SIGNATURE_SIZE, signature

# The query's heaviest terms looked up (as `pairs.QUERY_TERMS` for the clusters' candidates):
# at 42k SBIR abstracts their postings hold ~2,800 rows at the median, ~12,000 at p95.
QUERY_TERMS = 40
# Rows read back and scored exactly: `matching.scores_for` lifts the best 300 by cosine.
CANDIDATE_ROWS = 300
LOCK_KEY = 0x0B1D5E  # pg_advisory_lock key of the matcher's writers
WRITE_BATCH = 2000
# Changes whose bids the change log keeps (`DbSnapshot.changed_since` older than that: None).
CHANGES_KEPT = 10_000
# What a rebuild replaces wholesale (and then vacuums).
REWRITTEN_BY_REBUILD = (
    SimilarityTerm.__tablename__,
    SimilarityVector.__tablename__,
    SimilarityVocabulary.__tablename__,
)


def vector_record(
    doc: Doc, columns: np.ndarray, weights: np.ndarray, generation_id: int, *, fitted: bool
) -> dict:
    """The stored row of one bid, from its TF-IDF row's columns and weights."""
    return {
        "bid_id": doc.bid_id,
        "generation_id": generation_id,
        "organisation_id": doc.org_id,
        "public": doc.public,
        "fitted": fitted,
        "columns": np.asarray(columns, dtype="<i4").tobytes(),
        "weights": np.asarray(weights, dtype="<f4").tobytes(),
        "signature": np.asarray(signature(doc.text), dtype="<u4").tobytes(),
    }


def _segment(records: Sequence[Any], n_features: int) -> Segment:
    """Stored rows (in the order given) as a `Segment`."""
    rows = np.array([(r.bid_id, r.organisation_id, r.public) for r in records], dtype=ROW_DTYPE)
    columns = [np.frombuffer(r.columns, dtype="<i4") for r in records]
    weights = [np.frombuffer(r.weights, dtype="<f4") for r in records]
    indptr = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in columns], out=indptr[1:])
    matrix = sp.csr_matrix(
        (
            np.concatenate(weights) if weights else np.zeros(0, dtype=np.float32),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.int32),
            indptr,
        ),
        shape=(len(records), n_features),
    )
    sig = (
        np.stack([np.frombuffer(r.signature, dtype="<u4") for r in records])
        if records
        else np.zeros((0, SIGNATURE_SIZE), dtype=np.uint32)
    )
    return Segment(rows, _canonical(matrix), sig)


def _snapshot_of(key: tuple, vectoriser: Vectoriser, segment: Segment) -> Snapshot:
    """Every stored row as a base with its postings (`XT`), as the file store's: the corpus-wide
    pairs read the postings."""
    return Snapshot(
        key,
        vectoriser,
        segment,
        _canonical(segment.X.T.tocsr()),
        np.ones(len(segment), dtype=bool),
        Segment.empty(len(vectoriser.terms)),
    )


def _view_of(key: tuple, vectoriser: Vectoriser, segment: Segment) -> Snapshot:
    """A few hundred rows near a query, scored row by row (a delta's way): transposing them
    into postings made an index pointer as long as the vocabulary (628k terms at 42k bids),
    for every query and every member of a neighbourhood."""
    n_features = len(vectoriser.terms)
    return Snapshot(
        key,
        vectoriser,
        Segment.empty(n_features),
        sp.csr_matrix((n_features, 0), dtype=np.float32),
        np.zeros(0, dtype=bool),
        segment,
    )


@dataclass
class DbSnapshot(Snapshot):
    """The current generation, read lazily: ranking asks for the rows near one query."""

    store: DbStore
    generation_id: int

    _VECTOR_COLUMNS = (
        SimilarityVector.bid_id,
        SimilarityVector.organisation_id,
        SimilarityVector.public,
        SimilarityVector.columns,
        SimilarityVector.weights,
        SimilarityVector.signature,
    )

    def position_of(self, bid_id: int) -> int | None:
        return None  # rows are read per query: the matcher transforms the bid's current text

    @property
    def version(self) -> int:
        return int(self.key[2])

    def changed_since(self, older: Snapshot) -> set[int] | None:
        """The bids changed between `older` and this version of the same generation, from the
        change log (None: another generation, or changes the log no longer holds)."""
        if (
            not isinstance(older, DbSnapshot)
            or older.generation_id != self.generation_id
            or older.version > self.version
        ):
            return None
        if older.version == self.version:
            return set()
        with self.store.engine.connect() as conn:
            oldest = conn.execute(select(func.min(SimilarityChange.version))).scalar()
            if oldest is None or oldest > older.version + 1:
                return None
            return set(
                conn.scalars(
                    select(SimilarityChange.bid_id)
                    .where(
                        SimilarityChange.version > older.version,
                        SimilarityChange.version <= self.version,
                    )
                    .distinct()
                )
            )

    def rows_view(self, bid_ids: list[int]) -> tuple[Snapshot, dict[int, int]]:
        """A view of these bids' stored rows (read now), and their positions in it."""
        with self.store.engine.connect() as conn:
            records = self._rows(conn, sorted(set(bid_ids)))
        ids = sorted(records)
        segment = _segment([records[i] for i in ids], self.n_features)
        return _view_of(self.key, self.vectoriser, segment), {b: p for p, b in enumerate(ids)}

    def all_rows(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_all_rows")
        if cached is None:
            with self.store.engine.connect() as conn:
                records = conn.execute(
                    select(
                        SimilarityVector.bid_id,
                        SimilarityVector.organisation_id,
                        SimilarityVector.public,
                    )
                    .where(SimilarityVector.generation_id == self.generation_id)
                    .order_by(SimilarityVector.bid_id)
                ).all()
            rows = np.array([tuple(r) for r in records], dtype=ROW_DTYPE)
            cached = self.__dict__["_all_rows"] = (rows, np.ones(len(rows), dtype=bool))
        return cached

    def counts(self) -> tuple[int, int]:
        """(rows written by the refit, rows changed since), read once."""
        cached = self.__dict__.get("_counts")
        if cached is None:
            with self.store.engine.connect() as conn:
                found = dict(
                    conn.execute(
                        select(SimilarityVector.fitted, func.count())
                        .where(SimilarityVector.generation_id == self.generation_id)
                        .group_by(SimilarityVector.fitted)
                    ).all()
                )
            cached = self.__dict__["_counts"] = (found.get(True, 0), found.get(False, 0))
        return cached

    def unfitted_rows(self) -> int:
        return self.counts()[1]

    def unfitted_share(self) -> float:
        fitted, changed = self.counts()
        return changed / (fitted + changed) if fitted + changed else 0.0

    # --- the rows a query is ranked over ---------------------------------------------------

    def candidates(
        self, q: sp.csr_matrix, user: Any = None, exclude: int | None = None
    ) -> Snapshot:
        """The best `CANDIDATE_ROWS` stored rows for the query row `q` that `user` may see."""
        return self._around(q, self._visible_to(user), exclude)

    def neighbourhood(self, bid_id: int) -> Snapshot:
        """A public bid's row and its public candidates (for `pairs_for`); empty when the bid
        is not stored."""
        with self.store.engine.connect() as conn:
            own = conn.execute(
                select(*self._VECTOR_COLUMNS).where(
                    SimilarityVector.bid_id == bid_id,
                    SimilarityVector.generation_id == self.generation_id,
                )
            ).first()
        if own is None:
            return _view_of(self.key, self.vectoriser, _segment([], self.n_features))
        q = _segment([own], self.n_features).X
        return self._around(q, SimilarityVector.public.is_(True), None, include=own)

    def neighbourhoods(self, bid_ids: list[int]) -> list[tuple[Snapshot, list[int]]]:
        """`neighbourhood` of each bid, in three queries for them all: their rows, every one's
        candidates (ranked per bid in one query, `_candidates_of`), and the candidates' rows,
        each read once (the neighbours of a cluster's members are mostly the same bids)."""
        with self.store.engine.connect() as conn:
            own = self._rows(conn, bid_ids)
            chosen: dict[int, list[int]] = defaultdict(list)
            for start in range(0, len(own), 100):
                for query_id, bid_id in conn.execute(
                    self._candidates_of(sorted(own)[start : start + 100])
                ):
                    chosen[query_id].append(bid_id)
            wanted = {i for ids in chosen.values() for i in ids} - set(own)
            records = {**own, **self._rows(conn, sorted(wanted))}
        views: list[tuple[Snapshot, list[int]]] = []
        for bid_id in bid_ids:
            if bid_id not in own:
                views.append(
                    (
                        _view_of(self.key, self.vectoriser, _segment([], self.n_features)),
                        [bid_id],
                    )
                )
                continue
            ids = sorted(({*chosen.get(bid_id, ()), bid_id}) & records.keys())
            segment = _segment([records[i] for i in ids], self.n_features)
            views.append((_view_of(self.key, self.vectoriser, segment), [bid_id]))
        return views

    def _rows(self, conn, bid_ids: list[int]) -> dict[int, Any]:
        """The stored rows of these bids, by bid id."""
        found = {}
        for start in range(0, len(bid_ids), 500):
            for record in conn.execute(
                select(*self._VECTOR_COLUMNS).where(
                    SimilarityVector.bid_id.in_(bid_ids[start : start + 500]),
                    SimilarityVector.generation_id == self.generation_id,
                )
            ):
                found[record.bid_id] = record
        return found

    def _candidates_of(self, bid_ids: list[int]):
        """(query bid, candidate) of each stored bid's public candidates, as `_around` finds
        them for one: its `QUERY_TERMS` heaviest terms (ties by term) read from the postings,
        the same sums of products in double precision, the best `CANDIDATE_ROWS` by score, then
        bid id."""
        term, other = SimilarityTerm, aliased(SimilarityTerm)
        heaviest = (
            select(
                term.bid_id.label("query_id"),
                term.term_id,
                cast(term.weight, Double).label("weight"),
                func.row_number()
                .over(partition_by=term.bid_id, order_by=(term.weight.desc(), term.term_id))
                .label("rank"),
            )
            .where(term.bid_id.in_(bid_ids))
            .subquery()
        )
        scored = (
            select(
                heaviest.c.query_id,
                other.bid_id,
                func.sum(other.weight * heaviest.c.weight).label("score"),
            )
            .join(other, other.term_id == heaviest.c.term_id)
            .where(heaviest.c.rank <= QUERY_TERMS)
            .group_by(heaviest.c.query_id, other.bid_id)
            .subquery()
        )
        ranked = (
            select(
                scored.c.query_id,
                scored.c.bid_id,
                func.row_number()
                .over(
                    partition_by=scored.c.query_id,
                    order_by=(scored.c.score.desc(), scored.c.bid_id),
                )
                .label("rank"),
            )
            .join(SimilarityVector, SimilarityVector.bid_id == scored.c.bid_id)
            .where(
                SimilarityVector.generation_id == self.generation_id,
                SimilarityVector.public.is_(True),
            )
            .subquery()
        )
        return select(ranked.c.query_id, ranked.c.bid_id).where(ranked.c.rank <= CANDIDATE_ROWS)

    def whole(self) -> Snapshot:
        """Every stored row (the corpus-wide pairs of the pools' clustering)."""
        with self.store.engine.connect() as conn:
            records = conn.execute(
                select(*self._VECTOR_COLUMNS)
                .where(SimilarityVector.generation_id == self.generation_id)
                .order_by(SimilarityVector.bid_id)
                .execution_options(yield_per=2000)
            ).all()
        self.store.dir.mkdir(parents=True, exist_ok=True)  # the pairs' cache lives there
        return _snapshot_of(self.key, self.vectoriser, _segment(records, self.n_features))

    @staticmethod
    def _visible_to(user: Any):
        """The stored rows `user` may see (as `matching._allowed_rows`; the matcher checks
        each match against the database again)."""
        user = real_user(user)
        if user is not None and user.is_admin:
            return true()
        orgs = sorted(user.organisation_ids()) if user is not None else []
        if orgs:
            return or_(
                SimilarityVector.public.is_(True), SimilarityVector.organisation_id.in_(orgs)
            )
        return SimilarityVector.public.is_(True)

    def _around(self, q: sp.csr_matrix, visible, exclude: int | None, include=None) -> Snapshot:
        ids: list[int] = []
        if q.nnz:
            heaviest = np.argsort(-q.data, kind="stable")[:QUERY_TERMS]
            weights = {int(q.indices[i]): float(q.data[i]) for i in heaviest}
            term = SimilarityTerm
            scored = (
                select(
                    term.bid_id,
                    func.sum(term.weight * case(weights, value=term.term_id)).label("score"),
                )
                .where(term.term_id.in_(list(weights)))
                .group_by(term.bid_id)
                .subquery()
            )
            query = (
                select(scored.c.bid_id)
                .join(SimilarityVector, SimilarityVector.bid_id == scored.c.bid_id)
                .where(SimilarityVector.generation_id == self.generation_id, visible)
                .order_by(scored.c.score.desc(), scored.c.bid_id)
                .limit(CANDIDATE_ROWS)
            )
            if exclude is not None:
                query = query.where(scored.c.bid_id != exclude)
        with self.store.engine.connect() as conn:
            if q.nnz:
                ids = list(conn.scalars(query))
            records = (
                conn.execute(
                    select(*self._VECTOR_COLUMNS)
                    .where(
                        SimilarityVector.bid_id.in_(ids),
                        SimilarityVector.generation_id == self.generation_id,
                    )
                    .order_by(SimilarityVector.bid_id)
                ).all()
                if ids
                else []
            )
        if include is not None and include.bid_id not in ids:
            records = sorted([*records, include], key=lambda r: r.bid_id)
        return _view_of(self.key, self.vectoriser, _segment(records, self.n_features))


class DbStore:
    """Reads and writes the matcher's tables; one per app. `dir` holds caches only."""

    def __init__(
        self,
        cache_dir: str | Path,
        *,
        engine: Engine | None = None,
        refit_below: int = REFIT_BELOW,
        growth_factor: float = REFIT_GROWTH,
    ):
        self.dir = Path(cache_dir)
        self._engine = engine
        self.refit_below = refit_below
        self.growth_factor = growth_factor
        self._vectoriser: tuple[int, Vectoriser] | None = None

    @property
    def engine(self) -> Engine:
        return self._engine if self._engine is not None else db.engine

    # --- reading --------------------------------------------------------------------------

    def _generation(self, conn) -> Any:
        return conn.execute(
            select(SimilarityGeneration).order_by(SimilarityGeneration.id.desc()).limit(1)
        ).first()

    def manifest(self) -> dict | None:
        """The current generation: when fitted (`built_at`, epoch seconds), bids, terms."""
        with self.engine.connect() as conn:
            row = self._generation(conn)
        if row is None:
            return None
        return {
            "base": f"generation-{row.id}",
            "delta": f"version-{row.version}",  # moves with every change, as the file's delta
            "built_at": row.built_at.replace(tzinfo=UTC).timestamp(),
            "changed_at": row.changed_at.replace(tzinfo=UTC).timestamp(),
            "bids": row.bids,
            "terms": row.terms,
        }

    def snapshot(self) -> DbSnapshot | None:
        """The current generation (one small query; its vocabulary is read once per process)."""
        with self.engine.connect() as conn:
            row = self._generation(conn)
            if row is None:
                return None
            vectoriser = self._vectoriser_of(conn, row.id)
        return DbSnapshot(
            ("database", row.id, row.version),
            vectoriser,
            Segment.empty(len(vectoriser.terms)),
            sp.csr_matrix((len(vectoriser.terms), 0), dtype=np.float32),
            np.zeros(0, dtype=bool),
            Segment.empty(len(vectoriser.terms)),
            self,
            row.id,
        )

    def _vectoriser_of(self, conn, generation_id: int) -> Vectoriser:
        cached = self._vectoriser
        if cached is not None and cached[0] == generation_id:
            return cached[1]
        terms, idf = [], []
        for term, value in conn.execute(
            select(SimilarityVocabulary.term, SimilarityVocabulary.idf)
            .where(SimilarityVocabulary.generation_id == generation_id)
            .order_by(SimilarityVocabulary.term_id)
        ):
            terms.append(term)
            idf.append(value)
        vectoriser = Vectoriser(terms, np.array(idf, dtype=np.float32))
        self._vectoriser = (generation_id, vectoriser)
        return vectoriser

    # --- writing --------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time: across nodes on PostgreSQL, across processes on SQLite."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(select(func.pg_advisory_lock(LOCK_KEY)))
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(select(func.pg_advisory_unlock(LOCK_KEY)))
                    conn.commit()
            return
        with folder_lock(self.dir):
            yield

    def rebuild(self, docs: list[Doc]) -> DbSnapshot:
        """Fit a new generation from every bid and replace the stored one (the caller holds the
        lock); one transaction, so readers see the old generation or the new, never a mix."""
        vectoriser, matrix = Vectoriser.fit([d.text for d in docs])
        now = utcnow()
        with self.engine.begin() as conn:
            generation_id: int = conn.execute(
                insert(SimilarityGeneration)
                .values(
                    built_at=now,
                    changed_at=now,
                    version=0,
                    bids=len(docs),
                    terms=len(vectoriser.terms),
                )
                .returning(SimilarityGeneration.id)
            ).scalar_one()
            conn.execute(delete(SimilarityTerm))
            conn.execute(delete(SimilarityVector))
            conn.execute(delete(SimilarityChange))
            conn.execute(
                delete(SimilarityVocabulary).where(
                    SimilarityVocabulary.generation_id != generation_id
                )
            )
            conn.execute(
                delete(SimilarityGeneration).where(SimilarityGeneration.id != generation_id)
            )
            self._write(
                conn,
                SimilarityVocabulary,
                (
                    {"generation_id": generation_id, "term_id": i, "term": t, "idf": float(v)}
                    for i, (t, v) in enumerate(zip(vectoriser.terms, vectoriser.idf, strict=True))
                ),
            )
            self._write_rows(conn, docs, matrix, generation_id, fitted=True)
        # Every row was replaced: reclaim the old ones and give the planner the new counts.
        vacuum_analyze(self.engine, *REWRITTEN_BY_REBUILD)
        snap = self.snapshot()
        assert snap is not None, "the generation was just written"
        return snap

    def change(self, upserts: list[Doc], deletes: list[int], all_docs=None) -> DbSnapshot:
        """Apply upserts and deletes (the caller holds the lock); refit instead when the store
        is missing or small, or has grown too far past its vocabulary (as `Store.change`)."""
        snap = self.snapshot()
        if snap is None or (all_docs is not None and self.needs_refit(snap, len(upserts))):
            if all_docs is None:
                raise RuntimeError("The similarity store is empty: rebuild it first.")
            return self.rebuild(all_docs())
        changed = sorted({d.bid_id for d in upserts} | set(deletes))
        with self.engine.begin() as conn:
            for start in range(0, len(changed), 500):
                chunk = changed[start : start + 500]
                conn.execute(delete(SimilarityTerm).where(SimilarityTerm.bid_id.in_(chunk)))
                conn.execute(delete(SimilarityVector).where(SimilarityVector.bid_id.in_(chunk)))
            if upserts:
                matrix = snap.vectoriser.transform([d.text for d in upserts])
                self._write_rows(conn, upserts, matrix, snap.generation_id, fitted=False)
            version = conn.execute(
                update(SimilarityGeneration)
                .where(SimilarityGeneration.id == snap.generation_id)
                .values(version=SimilarityGeneration.version + 1, changed_at=utcnow())
                .returning(SimilarityGeneration.version)
            ).scalar_one()
            conn.execute(
                delete(SimilarityChange).where(SimilarityChange.version <= version - CHANGES_KEPT)
            )
            if changed:
                conn.execute(
                    insert(SimilarityChange), [{"version": version, "bid_id": i} for i in changed]
                )
        fresh = self.snapshot()
        assert fresh is not None, "the generation was just changed"
        return fresh

    def needs_refit(self, snap: DbSnapshot, incoming: int) -> bool:
        """As `Store.needs_refit`: refit when small, or when the rows outside the fitted
        vocabulary (changed since, plus `incoming`) would grow past `growth_factor` times it."""
        fitted, changed = snap.counts()
        if fitted + changed < self.refit_below:
            return True
        return changed + incoming > max(self.refit_below, fitted * (self.growth_factor - 1))

    def _write_rows(
        self, conn, docs: list[Doc], matrix: sp.csr_matrix, generation_id: int, *, fitted: bool
    ) -> None:
        # Rows by their `indptr` slices: `matrix[i]` copies every index of the matrix first
        # (mixed index dtypes), which made a 42k refit spend over 10 minutes here.
        def vectors():
            for i, doc in enumerate(docs):
                lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
                yield vector_record(
                    doc, matrix.indices[lo:hi], matrix.data[lo:hi], generation_id, fitted=fitted
                )

        def postings():
            for i, doc in enumerate(docs):
                lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
                for column, weight in zip(
                    matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist(), strict=True
                ):
                    yield {"term_id": column, "bid_id": doc.bid_id, "weight": weight}

        self._write(conn, SimilarityVector, vectors())
        self._write(conn, SimilarityTerm, postings())

    def _write(self, conn, model, records) -> None:
        """Insert many rows: COPY on PostgreSQL (a 42k refit writes ~7M postings), batched
        INSERTs elsewhere."""
        columns = [c.name for c in model.__table__.columns]
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            with raw.cursor() as cursor:
                statement = f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for record in records:
                        copy.write_row([record[c] for c in columns])
            return
        batch: list[dict] = []
        for record in records:
            batch.append(record)
            if len(batch) == WRITE_BATCH:
                conn.execute(insert(model), batch)
                batch = []
        if batch:
            conn.execute(insert(model), batch)
