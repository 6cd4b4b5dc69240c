"""Applying the index outbox: the `IndexOutbox` rows the domain wrote with each change.

The domain records which bids changed (`bids.outbox`), in the same transaction as the
change, so a rolled-back write never reaches an index and a committed one is never lost.
After commit the pending rows of the automatic targets are applied here (best effort: a
locked index or a crash leaves them for the next write or for `flask --app portal index sync`).

Consumers register how their target's rows are applied:

    register_consumer("similar", apply_fn)

and others may follow a target (`follow("similar", fn)`: the pool's clusters are redone
around bids the similarity store has just taken in); a follower runs after the rows are
applied and deleted, and its failure is logged without requeueing them.

`apply_fn(session, upsert_ids, delete_ids)` receives its own SQLAlchemy session
(not `db.session`, whose commit hook may be running) and raises to leave the
rows in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from bids.database import db, utcnow
from bids.models import IndexOutbox
from bids.outbox import (  # noqa: F401  (re-exported: callers record and defer through here too)
    DELETE,
    TARGETS,
    UPSERT,
    deferred,
    record_bid_changes,
    take_committed_rows,
)

log = logging.getLogger(__name__)

ApplyFn = Callable[[Session, list[int], list[int]], None]


@dataclass
class Consumer:
    apply: ApplyFn
    after_commit: bool


_consumers: dict[str, Consumer] = {}
_followers: dict[str, list[ApplyFn]] = {}
_listening = False


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


def _after_commit(session: Session) -> None:
    if not take_committed_rows(session) or not has_app_context():
        return
    bind = session.bind or db.engine
    for target, registered in list(_consumers.items()):
        if not registered.after_commit:
            continue
        try:
            _drain(bind, target, limit=int(current_app.config.get("SEARCH_SYNC_AFTER_COMMIT", 2000)))
        except Exception:  # noqa: BLE001 - an index failure never blocks a write
            log.exception("Applying %s outbox rows after commit failed; they stay queued", target)


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
            for follower in _followers.get(target, ()):
                try:
                    follower(session, upserts, deletes)
                except Exception:  # noqa: BLE001 - derived data of derived data: logged, not retried
                    session.rollback()
                    log.exception("A follower of %s outbox rows failed", target)
    return applied


def sync(target: str | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Drain pending rows for one target (or all registered ones); returns rows applied per target."""
    targets = [target] if target else list(_consumers)
    bind = db.engine
    return {name: _drain(bind, name, limit=limit) for name in targets}


def listen() -> None:
    """Apply the automatic targets' rows after each commit (registered once per process)."""
    global _listening
    if _listening:
        return
    event.listen(Session, "after_commit", _after_commit)
    _listening = True
