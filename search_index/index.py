"""The on-disk Whoosh index: where it lives, writing with lock retries, rebuilds and drift checks.

Layout of `SEARCH_INDEX_DIR`: one sub-folder per build (`idx-<time>-<pid>`) and a
`CURRENT` file naming the live one. A rebuild fills a new folder, then replaces
`CURRENT` atomically (`os.replace`), so searches never see a half-built index.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload
from whoosh import index as whoosh_index
from whoosh.index import LockError
from whoosh.searching import Searcher
from whoosh.writing import SegmentWriter

from bids.database import utcnow
from bids.models import Attachment, Bid
from search_index.schema import bid_document, make_schema, stamp

log = logging.getLogger(__name__)

POINTER = "CURRENT"
LOAD_BATCH = 500
# From this many bids a rebuild indexes in one process per core (Whoosh's MpWriter: 1.6x
# faster on two cores at 3,000 bids); below it the extra processes cost more than they save.
PARALLEL_REBUILD_MIN = 5000
# Merging segments. Whoosh's own policy re-merged every small segment, the growing one too,
# on every fifth write: up to 2 s at 42k bids. Here a write merges only segments of one size
# level, once MERGE_FACTOR of them are there (8 single-bid segments into one of 8, 8 of those
# into one of 64, ...; `_level`), so each bid is rewritten a few times at most and a merge's
# cost follows the size it makes; the worker, once the outbox is drained, merges whatever
# small segments are left (`tidy`, at most MERGE_MAX_DOCS bids).
MERGE_FACTOR = 8
MERGE_MAX_DOCS = 1000


def _load_bids(session: Session, ids: Iterable[int]) -> list[Bid]:
    return list(
        session.scalars(
            select(Bid)
            .where(Bid.id.in_(list(ids)))
            .options(
                selectinload(Bid.attachments),
                joinedload(Bid.organisation),
                joinedload(Bid.funder),
            )
        ).unique()
    )


def _level(seg) -> int:
    """0 for 1-7 bids, 1 for 8-63, 2 for 64-511, ... (MERGE_FACTOR = 8)."""
    count, level = max(1, seg.doc_count_all()), 0
    while count >= MERGE_FACTOR:
        count //= MERGE_FACTOR
        level += 1
    return level


def _full_level(segments: list) -> list:
    """The smallest level's segments when MERGE_FACTOR of them are there (to merge into one of
    the next level), else nothing. The largest segment is never merged here."""
    largest = max(segments, key=lambda seg: seg.doc_count_all(), default=None)
    levels: dict[int, list] = {}
    for seg in segments:
        if seg is not largest:
            levels.setdefault(_level(seg), []).append(seg)
    for level in sorted(levels):
        if len(levels[level]) >= MERGE_FACTOR:
            return levels[level]
    return []


def _small_segments(segments: list) -> list:
    """What an idle worker merges: the segments under a tenth of the largest, smallest first,
    as many as add up to MERGE_MAX_DOCS (no merge takes more than a few seconds)."""
    largest = max((seg.doc_count_all() for seg in segments), default=0)
    chosen: list = []
    total = 0
    for seg in sorted(segments, key=lambda seg: seg.doc_count_all()):
        count = seg.doc_count_all()
        if count * 10 >= largest or (chosen and total + count > MERGE_MAX_DOCS):
            break
        chosen.append(seg)
        total += count
    return chosen if len(chosen) > 1 else []


def _merging(choose: Callable[[list], list]):
    """A Whoosh merge policy: the segments `choose` picks merged into the one being written."""

    def policy(writer: SegmentWriter, segments: list) -> list:
        from whoosh.reading import SegmentReader

        chosen = choose(segments)
        for seg in chosen:
            reader = SegmentReader(writer.storage, writer.schema, seg)
            writer.add_reader(reader)
            reader.close()
        return [seg for seg in segments if seg not in chosen]

    return policy


@dataclass
class Drift:
    missing: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.extra)


class SearchIndex:
    """One index folder tree; safe to share between threads and processes."""

    kept_by_database = False  # a bulk import rebuilds it (search_index.catchup)

    def __init__(self, root: str | Path, *, lock_timeout: float = 5.0):
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self._lock = threading.Lock()
        self._opened: tuple[str, whoosh_index.Index] | None = None
        # One searcher per thread: Whoosh's readers are not safe to share between threads
        # (a shared one raised UnpicklingError under concurrent readers).
        self._local = threading.local()

    # --- locating ------------------------------------------------------------------------

    def current_name(self) -> str:
        pointer = self.root / POINTER
        try:
            name = pointer.read_text().strip()
        except FileNotFoundError:
            name = ""
        if name and (self.root / name).is_dir():
            return name
        return self._create_first()

    def _create_first(self) -> str:
        """Create an empty live index, once, even when several processes start together."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".create.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                name = (self.root / POINTER).read_text().strip()
                if name and (self.root / name).is_dir():
                    return name
            except FileNotFoundError:
                pass
            name = self._new_folder()
            whoosh_index.create_in(self.root / name, make_schema())
            self._point_to(name)
            return name

    def _new_folder(self) -> str:
        stamp_ = utcnow().strftime("%Y%m%dT%H%M%S%f")
        name = f"idx-{stamp_}-{os.getpid()}"
        (self.root / name).mkdir(parents=True)
        return name

    def _point_to(self, name: str) -> None:
        tmp = self.root / f"{POINTER}.{os.getpid()}.tmp"
        tmp.write_text(name + "\n")
        os.replace(tmp, self.root / POINTER)

    def open(self) -> whoosh_index.Index:
        name = self.current_name()
        with self._lock:
            if self._opened is None or self._opened[0] != name:
                self._opened = (name, whoosh_index.open_dir(self.root / name))
            return self._opened[1]

    def exists(self) -> bool:
        return (self.root / POINTER).exists()

    # --- reading -------------------------------------------------------------------------

    def searcher(self) -> Searcher:
        """This thread's searcher on the newest committed state, reused between requests
        (do not close it)."""
        ix = self.open()
        current = getattr(self._local, "searcher", None)
        if (
            current is not None
            and current.ixreader is not None
            and getattr(current, "_openbids_index", None) is ix
            and current.up_to_date()
        ):
            return current
        # Not `Searcher.refresh()`: it reuses segment readers that miss new deletions.
        fresh = ix.searcher()
        fresh._openbids_index = ix
        self._local.searcher = fresh
        if current is not None:
            current.close()  # only this thread used it
        return fresh

    def stored(self) -> dict[int, str]:
        """bid id -> updated stamp for every live document."""
        with self.open().searcher() as searcher:
            return {int(f["id"]): f.get("updated", "") for f in searcher.all_stored_fields()}

    def doc_count(self) -> int:
        return self.open().doc_count()

    # --- writing -------------------------------------------------------------------------

    def _acquire_writer(self, ix: whoosh_index.Index) -> SegmentWriter:
        """Whoosh's writer fails at once when locked: retry with a bounded, jittered backoff."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                return ix.writer()
            except LockError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def writing(self):
        writer = self._acquire_writer(self.open())
        try:
            yield writer
        except BaseException:
            writer.cancel()
            raise
        else:
            writer.commit(mergetype=_merging(_full_level))

    def segments(self) -> list:
        """The committed segments (Whoosh's `Segment`s)."""
        with self.open().reader() as reader:  # an empty index's one reader has no segment
            found = [getattr(leaf, "segment", lambda: None)() for leaf, _ in reader.leaf_readers()]
        return [seg for seg in found if seg is not None]

    def segment_count(self) -> int:
        return len(self.segments())

    def tidy(self) -> bool:
        """Merge the small segments writes left (`_small_segments`) into one; False when there
        was nothing to merge or another process was writing. Run by the worker when the outbox
        is drained."""
        if not _small_segments(self.segments()):  # the usual case: no lock, no writer
            return False
        try:
            writer = self.open().writer()
        except LockError:
            return False
        if not _small_segments(writer.segments):
            writer.cancel()
            return False
        try:
            writer.commit(mergetype=_merging(_small_segments))
        except BaseException:
            writer.cancel()
            raise
        return True

    def apply(self, session: Session, upserts: list[int], deletes: list[int]) -> None:
        """Bring the documents of these bids in line with the database (the outbox consumer).

        Bids are read only once the index lock is held, so of two racing writers the
        later one always writes the later state.
        """
        if not upserts and not deletes:
            return
        with self.writing() as writer:
            found: set[int] = set()
            for start in range(0, len(upserts), LOAD_BATCH):
                for bid in _load_bids(session, upserts[start : start + LOAD_BATCH]):
                    writer.update_document(**bid_document(bid))
                    found.add(bid.id)
            session.rollback()
            for bid_id in set(upserts) - found | set(deletes):
                writer.delete_by_term("id", str(bid_id))

    # --- rebuilding and checking ---------------------------------------------------------

    def rebuild(
        self, session: Session, *, progress: Callable[[int], None] | None = None, limitmb: int = 256
    ) -> int:
        """Build a fresh index aside from the database, swap it in, repair what changed since."""
        started = utcnow() - timedelta(seconds=2)
        self.root.mkdir(parents=True, exist_ok=True)
        name = self._new_folder()
        ix = whoosh_index.create_in(self.root / name, make_schema())
        total = session.scalar(select(func.count(Bid.id))) or 0
        procs = max(1, os.cpu_count() or 1) if total >= PARALLEL_REBUILD_MIN else 1
        writer = ix.writer(limitmb=limitmb, procs=procs, multisegment=procs > 1)
        count = 0
        try:
            last_id = 0
            while True:
                ids = list(
                    session.scalars(
                        select(Bid.id).where(Bid.id > last_id).order_by(Bid.id).limit(LOAD_BATCH)
                    )
                )
                if not ids:
                    break
                last_id = ids[-1]
                bids = _load_bids(session, ids)
                for bid in bids:
                    writer.add_document(**bid_document(bid))
                count += len(bids)
                session.expunge_all()
                if progress:
                    progress(len(bids))
            writer.commit(optimize=True)
        except BaseException:
            writer.cancel()
            shutil.rmtree(self.root / name, ignore_errors=True)
            raise
        previous = (self.root / POINTER).read_text().strip() if self.exists() else None
        self._point_to(name)
        self._repair_since(session, started)
        self._remove_old(keep={name, previous})
        return count

    def _repair_since(self, session: Session, since: datetime) -> None:
        """Writers that used the old index while we built the new one: redo their bids.

        A bid written since is stale in the new index exactly when its stored `updated`
        stamp differs from the database's (the drift check); one the build already read as
        it now is needs nothing (redoing every recent bid doubled the cost of a rebuild run
        right after an import). An attachment read since leaves the bid's stamp alone, so
        those bids are redone by time.
        """
        changed = set(
            session.scalars(select(Attachment.bid_id).where(Attachment.created_at >= since))
        )
        drift = self.check(session)
        self.apply(session, sorted(changed | set(drift.missing) | set(drift.stale)), drift.extra)

    def _remove_old(self, keep: set[str | None]) -> None:
        for child in self.root.iterdir():
            if child.is_dir() and child.name.startswith("idx-") and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    def check(self, session: Session) -> Drift:
        indexed = self.stored()
        in_db = {
            bid_id: stamp(updated)
            for bid_id, updated in session.execute(select(Bid.id, Bid.updated_at))
        }
        session.rollback()
        return Drift(
            missing=sorted(set(in_db) - set(indexed)),
            stale=sorted(i for i in set(in_db) & set(indexed) if in_db[i] != indexed[i]),
            extra=sorted(set(indexed) - set(in_db)),
        )

    def close(self) -> None:
        """Close this thread's searcher and forget the opened index (others' go with GC)."""
        with self._lock:
            current = getattr(self._local, "searcher", None)
            if current is not None:
                current.close()
            self._local = threading.local()
            self._opened = None
