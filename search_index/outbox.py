"""The index outbox: durable, transactional records of which bids changed.

Session events write `IndexOutbox` rows for every derived store ("search" and
"similar") in the same transaction as the change, so a rolled-back write never
reaches an index and a committed one is never lost. After commit the pending
rows of the automatic targets are applied (best effort: a locked index or a
crash leaves them for the next write or for `flask --app portal index sync`).

Consumers register how their target's rows are applied:

    register_consumer("similar", apply_fn)

and others may follow a target (`follow("similar", fn)`: the pool's clusters are redone
around bids the similarity store has just taken in); a follower runs after the rows are
applied and deleted, is retried if it fails, and if it keeps failing the rows are queued
again so that the next drain (or `index sync`) retries the whole batch.

`apply_fn(session, upsert_ids, delete_ids)` receives its own SQLAlchemy session
(not `db.session`, whose commit hook may be running) and raises to leave the
rows in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, inspect, select, update
from sqlalchemy.orm import Session

from bids.database import db, utcnow
from bids.models import Attachment, Bid, BidLink, IndexOutbox, Organisation

log = logging.getLogger(__name__)

TARGETS = ("search", "similar")
UPSERT = "upsert"
DELETE = "delete"

ApplyFn = Callable[[Session, list[int], list[int]], None]


@dataclass
class Consumer:
    apply: ApplyFn
    after_commit: bool


_consumers: dict[str, Consumer] = {}
_followers: dict[str, list[ApplyFn]] = {}
_listening = False
_PENDING_KEY = "openbids_outbox_written"
_RECORDED_KEY = "openbids_outbox_recorded"
_DEFERRED_KEY = "openbids_outbox_deferred"


def register_consumer(target: str, apply_fn: ApplyFn, *, after_commit: bool = False) -> None:
    """Say how rows of `target` are applied; `after_commit=True` also drains them after each commit."""
    if target not in TARGETS:
        raise ValueError(f"Unknown outbox target {target!r}; expected one of {TARGETS}")
    _consumers[target] = Consumer(apply_fn, after_commit)


def follow(target: str, fn: ApplyFn) -> None:
    """Call `fn(session, upsert_ids, delete_ids)` after each batch of `target` is applied."""
    if target not in TARGETS:
        raise ValueError(f"Unknown outbox target {target!r}; expected one of {TARGETS}")
    followers = _followers.setdefault(target, [])
    if fn not in followers:
        followers.append(fn)


def consumer(target: str) -> Consumer | None:
    return _consumers.get(target)


# --- recording -------------------------------------------------------------------------

def _bid_changes(session: Session) -> dict[int, str]:
    """bid id -> action for everything this flush changes (deletes win)."""
    changes: dict[int, str] = {}
    conn = session.connection()

    def upsert(bid_id: int | None) -> None:
        if bid_id is not None and changes.get(bid_id) != DELETE:
            changes[bid_id] = UPSERT

    for obj in session.deleted:
        if isinstance(obj, Bid) and obj.id is not None:
            changes[obj.id] = DELETE
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Bid):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue
            upsert(obj.id)
        elif isinstance(obj, Attachment):
            upsert(obj.bid_id if obj.bid_id is not None else (obj.bid.id if obj.bid else None))
        elif isinstance(obj, BidLink):
            for bid_id in (obj.from_bid_id, obj.to_bid_id):
                upsert(bid_id)
            for side in (obj.from_bid, obj.to_bid):
                if side is not None:
                    upsert(side.id)
        elif isinstance(obj, Organisation) and obj in session.dirty:
            # Bids show their organisation's and funder's names: a rename changes their documents.
            if inspect(obj).attrs.name.history.has_changes():
                ids = conn.execute(
                    select(Bid.id).where((Bid.organisation_id == obj.id) | (Bid.funder_id == obj.id))
                ).scalars()
                for bid_id in ids:
                    upsert(bid_id)
    return changes


def _write_rows(session: Session, changes: dict[int, str]) -> None:
    """Insert outbox rows for both targets, skipping ones this transaction already wrote."""
    recorded: set[tuple[int, str]] = session.info.setdefault(_RECORDED_KEY, set())
    fresh = {(bid_id, action) for bid_id, action in changes.items()} - recorded
    if not fresh:
        return
    now = utcnow()
    rows = [
        {"target": target, "bid_id": bid_id, "action": action, "created_at": now, "attempts": 0}
        for bid_id, action in sorted(fresh)
        for target in TARGETS
    ]
    session.connection().execute(IndexOutbox.__table__.insert(), rows)
    recorded.update(fresh)
    session.info[_PENDING_KEY] = True


def _after_flush(session: Session, flush_context) -> None:
    changes = _bid_changes(session)
    if changes:
        _write_rows(session, changes)


def record_bid_changes(bid_ids: Iterable[int], action: str = UPSERT,
                       session: Session | None = None) -> int:
    """Write outbox rows for bids changed without ORM events (bulk import). The caller commits."""
    if action not in (UPSERT, DELETE):
        raise ValueError("action must be 'upsert' or 'delete'")
    session = session or db.session
    ids = sorted({int(i) for i in bid_ids})
    if not ids:
        return 0
    now = utcnow()
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        session.execute(
            IndexOutbox.__table__.insert(),
            [{"target": t, "bid_id": i, "action": action, "created_at": now, "attempts": 0}
             for i in chunk for t in TARGETS],
        )
    session.info[_PENDING_KEY] = True
    return len(ids)


# --- applying --------------------------------------------------------------------------

@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, this session's commits record index work but apply none of it.

    For bulk imports: indexing batch by batch would cap their speed. The rows stay in the
    outbox for `sync`, `flask --app portal index sync` or a rebuild. Scoped to the session,
    so other requests and workers go on applying their own changes as usual.
    """
    info = db.session.info
    info[_DEFERRED_KEY] = info.get(_DEFERRED_KEY, 0) + 1
    try:
        yield
    finally:
        info[_DEFERRED_KEY] -= 1
        if not info[_DEFERRED_KEY]:
            del info[_DEFERRED_KEY]
            info.pop(_PENDING_KEY, None)


def _after_commit(session: Session) -> None:
    session.info.pop(_RECORDED_KEY, None)
    if session.info.get(_DEFERRED_KEY):
        return
    if not session.info.pop(_PENDING_KEY, False) or not has_app_context():
        return
    bind = session.bind or db.engine
    for target, registered in list(_consumers.items()):
        if not registered.after_commit:
            continue
        try:
            _drain(bind, target, limit=int(current_app.config.get("SEARCH_SYNC_AFTER_COMMIT", 2000)))
        except Exception:  # noqa: BLE001 - an index failure never blocks a write
            log.exception("Applying %s outbox rows after commit failed; they stay queued", target)


def _after_rollback(session: Session) -> None:
    # Rolled-back rows are gone: let a retry of the same changes write them again.
    session.info.pop(_RECORDED_KEY, None)


def pending_count(target: str | None = None, session: Session | None = None) -> int:
    session = session or db.session
    query = select(func.count(IndexOutbox.id))
    if target:
        query = query.where(IndexOutbox.target == target)
    return session.scalar(query) or 0


def _drain(bind, target: str, *, limit: int | None = None, batch: int = 500) -> int:
    """Apply up to `limit` pending rows of `target` with their own session; returns rows applied."""
    registered = _consumers.get(target)
    if registered is None:
        return 0
    applied = 0
    with Session(bind=bind, autoflush=False, expire_on_commit=False) as session:
        last_id = 0
        while limit is None or applied < limit:
            size = batch if limit is None else min(batch, limit - applied)
            rows = session.execute(
                select(IndexOutbox.id, IndexOutbox.bid_id, IndexOutbox.action)
                .where(IndexOutbox.target == target, IndexOutbox.id > last_id)
                .order_by(IndexOutbox.id).limit(size)
            ).all()
            session.rollback()  # end the read transaction before a possibly slow index write
            if not rows:
                break
            last_id = rows[-1].id
            final: dict[int, str] = {}
            for row in rows:  # later rows win: an upsert after a delete (id reuse) re-adds
                final[row.bid_id] = row.action
            upserts = sorted(i for i, a in final.items() if a == UPSERT)
            deletes = sorted(i for i, a in final.items() if a == DELETE)
            row_ids = [row.id for row in rows]
            try:
                registered.apply(session, upserts, deletes)
            except Exception as exc:
                session.rollback()
                session.execute(
                    update(IndexOutbox).where(IndexOutbox.id.in_(row_ids))
                    .values(attempts=IndexOutbox.attempts + 1, last_error=repr(exc)[:1000])
                )
                session.commit()
                raise
            session.execute(delete(IndexOutbox).where(IndexOutbox.id.in_(row_ids)))
            session.commit()
            applied += len(rows)
            if not _run_followers(session, target, upserts, deletes):
                break  # its rows are queued again: the next drain retries them
    return applied


FOLLOWER_ATTEMPTS = 3


def _run_followers(session: Session, target: str, upserts: list[int], deletes: list[int]) -> bool:
    """Run `target`'s followers, each tried a few times; if one keeps failing, queue the
    batch's rows again (applying them twice is harmless) so that a later drain retries."""
    for follower in _followers.get(target, ()):
        for attempt in range(1, FOLLOWER_ATTEMPTS + 1):
            try:
                follower(session, upserts, deletes)
                break
            except Exception as exc:  # noqa: BLE001 - a follower's failure never blocks a write
                session.rollback()
                log.warning("A follower of %s outbox rows failed (attempt %d of %d): %r",
                            target, attempt, FOLLOWER_ATTEMPTS, exc)
                error = repr(exc)[:1000]
        else:
            now = utcnow()
            session.execute(IndexOutbox.__table__.insert(), [
                {"target": target, "bid_id": bid_id, "action": action, "created_at": now,
                 "attempts": FOLLOWER_ATTEMPTS, "last_error": error}
                for action, ids in ((UPSERT, upserts), (DELETE, deletes)) for bid_id in ids])
            session.commit()
            log.error("A follower of %s outbox rows failed %d times; its rows are queued again",
                      target, FOLLOWER_ATTEMPTS)
            return False
    return True


def sync(target: str | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Drain pending rows for one target (or all registered ones); returns rows applied per target."""
    targets = [target] if target else list(_consumers)
    bind = db.engine
    return {name: _drain(bind, name, limit=limit) for name in targets}


def listen() -> None:
    """Register the session events once per process (they filter to our models)."""
    global _listening
    if _listening:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda s, prev: _after_rollback(s))
    _listening = True
