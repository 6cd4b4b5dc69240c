"""Applying the index outbox: the `IndexOutbox` rows the domain wrote with each change.

The domain records which bids changed (`bids.outbox`), in the same transaction as the
change, so a rolled-back write never reaches an index and a committed one is never lost.
After commit the pending rows of the automatic targets are applied here (best effort: a
locked index or a crash leaves them for the next write or for `flask --app portal index sync`).

Consumers register how their target's rows are applied:

    register_consumer("similar", apply_fn)

and others may follow the similarity store (`follow("similar", fn)`: the pools' clusters and
the network map are redone around the bids it has just taken in). The "similar" rows of a
batch of at most `FOLLOW_UP_MAX` bids leave, in the transaction that deletes them, a row each
for the follow-ups' own target (`FOLLOW_UPS`, "clusters"), whose consumer runs the followers:
so follow-ups are leased, retried, backed off and set aside like any other rows, survive a
`kill -9`, and never hold up search and similar (the worker takes them one at a time, at
most `FOLLOW_UP_BATCH` a round, until a search or similar row waits). A larger batch (an
import) runs the followers at once; they leave it to the full refreshes, which is cheap.

`apply_fn(session, upsert_ids, delete_ids)` receives its own SQLAlchemy session
(not `db.session`, whose commit hook may be running) and raises to leave the
rows in the outbox.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.orm import Session, scoped_session

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
    batch: int | None = None  # at most this many rows at once, and a worker round


FOLLOWED = "similar"  # the target followers follow
FOLLOW_UPS = "clusters"  # the followers' own rows
# A similar batch of at most this many bids is followed up bid by bid (`clusters` redoes each
# one's neighbourhood); a larger one (an import) is left to the full refreshes.
FOLLOW_UP_MAX = 20
# Follow-ups a worker round applies, one at a time, while no search or similar row waits: a
# neighbourhood costs up to a second under load, and search and similar wait for the round.
FOLLOW_UP_BATCH = 4


_consumers: dict[str, Consumer] = {}
_followers: dict[str, list[ApplyFn]] = {}
_listening = False


def register_consumer(target: str, apply_fn: ApplyFn, *, after_commit: bool = False) -> None:
    """Say how rows of `target` are applied; `after_commit=True` also drains them after each
    commit."""
    if target not in TARGETS:
        raise ValueError(f"Unknown outbox target {target!r}; expected one of {TARGETS}")
    _consumers[target] = Consumer(apply_fn, after_commit)


def follow(target: str, fn: ApplyFn) -> None:
    """Call `fn(session, upsert_ids, delete_ids)` for the bids the similarity store applied
    (as `FOLLOW_UPS` rows, drained after the targets they follow)."""
    if target != FOLLOWED:
        raise ValueError(f"Only {FOLLOWED!r} rows are followed, not {target!r}")
    followers = _followers.setdefault(target, [])
    if fn not in followers:
        followers.append(fn)
    _consumers.pop(FOLLOW_UPS, None)  # registered last: drained after what it follows
    _consumers[FOLLOW_UPS] = Consumer(_apply_follow_ups, after_commit=True, batch=FOLLOW_UP_BATCH)


def _apply_follow_ups(session: Session, upserts: list[int], deletes: list[int]) -> None:
    for follower in _followers.get(FOLLOWED, ()):
        follower(session, upserts, deletes)


def _after_commit(session: Session) -> None:
    if not take_committed_rows(session) or not has_app_context():
        return
    if current_app.config.get("INDEX_MODE", "inline") == "worker":
        return  # the worker applies them; the request returns now
    bind = session.bind or db.engine
    for target, registered in list(_consumers.items()):
        if not registered.after_commit:
            continue
        try:
            _drain(
                bind, target, limit=int(current_app.config.get("SEARCH_SYNC_AFTER_COMMIT", 2000))
            )
        except Exception:  # noqa: BLE001 - an index failure never blocks a write
            log.exception("Applying %s outbox rows after commit failed; they stay queued", target)


def pending_count(
    target: str | None = None, session: Session | scoped_session | None = None
) -> int:
    """Rows still to apply (dead rows, set aside after repeated failures, not counted)."""
    session = session or db.session
    query = select(func.count(IndexOutbox.id)).where(IndexOutbox.dead_at.is_(None))
    if target:
        query = query.where(IndexOutbox.target == target)
    return session.scalar(query) or 0


def _claim(
    session: Session,
    target: str,
    size: int,
    owner: str,
    lease_s: float,
    *,
    due_only: bool = True,
    after_id: int = 0,
    upto_id: int,
) -> list[Any]:
    """Lease up to `size` due rows of `target` to `owner`; rows another consumer holds are skipped.

    One UPDATE ... RETURNING: on PostgreSQL its subquery locks with SKIP LOCKED, so concurrent
    workers take disjoint rows; SQLite runs it under its single write lock. A lease that runs
    out (a killed worker) makes its rows claimable again.
    """
    now = utcnow()
    due = (
        select(IndexOutbox.id)
        .where(
            IndexOutbox.target == target,
            IndexOutbox.dead_at.is_(None),
            IndexOutbox.id > after_id,
            IndexOutbox.id <= upto_id,
            or_(IndexOutbox.claimed_until.is_(None), IndexOutbox.claimed_until < now),
        )
        .order_by(IndexOutbox.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    if due_only:
        due = due.where(IndexOutbox.available_at <= now)
    # Taken once: as `IN (subquery)` PostgreSQL may run the locking subquery again for each
    # row it updates, each time skipping the rows it has just locked, so a claim of one row
    # leased all six that were due.
    chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    rows = session.execute(
        update(IndexOutbox)
        .where(IndexOutbox.id.in_(select(chosen.c.id)))
        .values(claimed_by=owner, claimed_until=now + timedelta(seconds=lease_s))
        .returning(IndexOutbox.id, IndexOutbox.bid_id, IndexOutbox.action)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(rows, key=lambda row: row.id)


def _final_actions(rows: list[Any]) -> tuple[list[int], list[int]]:
    final: dict[int, str] = {}
    for row in rows:  # later rows win: an upsert after a delete re-adds
        final[row.bid_id] = row.action
    upserts = sorted(i for i, a in final.items() if a == UPSERT)
    deletes = sorted(i for i, a in final.items() if a == DELETE)
    return upserts, deletes


def _settings() -> tuple[int, float, float, float]:
    config = current_app.config if has_app_context() else {}
    return (
        int(config.get("OUTBOX_MAX_ATTEMPTS", 8)),
        float(config.get("OUTBOX_BACKOFF_S", 2.0)),
        float(config.get("OUTBOX_BACKOFF_MAX_S", 300.0)),
        float(config.get("OUTBOX_LEASE_S", 300.0)),
    )


def _release_failed(
    session: Session, rows: list[Any], exc: BaseException, *, isolated: bool
) -> None:
    """Back failed rows off; after `OUTBOX_MAX_ATTEMPTS` failures a row is set aside (dead).

    A failure of the whole store (several bids tried one by one, none applied: a locked or
    read-only index) backs rows off but never kills them, so they converge once it is back.
    """
    max_attempts, base, cap, _ = _settings()
    now = utcnow()
    ids = [row.id for row in rows]
    attempts = dict(
        session.execute(
            select(IndexOutbox.id, IndexOutbox.attempts).where(IndexOutbox.id.in_(ids))
        ).all()
    )
    for row_id in ids:
        tries = (attempts.get(row_id) or 0) + 1
        delay = min(cap, base * 2 ** (tries - 1))
        session.execute(
            update(IndexOutbox)
            .where(IndexOutbox.id == row_id)
            .values(
                attempts=tries,
                last_error=repr(exc)[:1000],
                claimed_by=None,
                claimed_until=None,
                available_at=now + timedelta(seconds=delay),
                dead_at=now if isolated and tries >= max_attempts else None,
            )
            .execution_options(synchronize_session=False)
        )
    session.commit()


def _apply_rows(
    session: Session, registered: Consumer, target: str, rows: list[Any]
) -> tuple[int, BaseException | None]:
    """Apply claimed rows, isolating bids that fail; returns (rows applied, last error)."""
    upserts, deletes = _final_actions(rows)
    try:
        registered.apply(session, upserts, deletes)
    except Exception as exc:  # noqa: BLE001 - retried bid by bid below
        session.rollback()
        if len({row.bid_id for row in rows}) == 1:
            _release_failed(session, rows, exc, isolated=True)
            return 0, exc
        return _apply_one_by_one(session, registered, target, rows)
    _done(session, target, rows, upserts, deletes)
    return len(rows), None


def _apply_one_by_one(
    session: Session, registered: Consumer, target: str, rows: list[Any]
) -> tuple[int, BaseException | None]:
    by_bid: dict[int, list[Any]] = {}
    for row in rows:
        by_bid.setdefault(row.bid_id, []).append(row)
    applied, failed, error = 0, [], None
    for bid_rows in by_bid.values():
        upserts, deletes = _final_actions(bid_rows)
        try:
            registered.apply(session, upserts, deletes)
        except Exception as exc:  # noqa: BLE001 - this bid is backed off, the rest go on
            session.rollback()
            failed.extend(bid_rows)
            error = exc
            continue
        _done(session, target, bid_rows, upserts, deletes)
        applied += len(bid_rows)
    if failed and error is not None:
        whole_store_down = applied == 0 and len(by_bid) > 1
        _release_failed(session, failed, error, isolated=not whole_store_down)
    return applied, error


def _done(
    session: Session, target: str, rows: list[Any], upserts: list[int], deletes: list[int]
) -> None:
    """The applied rows deleted and, for a small batch of followed rows, the follow-ups'
    rows written in the same transaction; a large batch's followers run now."""
    session.execute(delete(IndexOutbox).where(IndexOutbox.id.in_([row.id for row in rows])))
    followers = _followers.get(target)
    follow_up_now = bool(followers) and len(upserts) + len(deletes) > FOLLOW_UP_MAX
    if followers and not follow_up_now:
        now = utcnow()
        session.execute(
            IndexOutbox.__table__.insert(),
            [
                {
                    "target": FOLLOW_UPS,
                    "bid_id": bid_id,
                    "action": action,
                    "created_at": now,
                    "attempts": 0,
                }
                for action, ids in ((UPSERT, upserts), (DELETE, deletes))
                for bid_id in ids
            ],
        )
    session.commit()
    if follow_up_now:
        _run_followers(session, upserts, deletes)


def _run_followers(session: Session, upserts: list[int], deletes: list[int]) -> None:
    """A large batch's followers (they leave it to the full refreshes, or mark their data
    stale); a failure is logged, never raised: the rows are applied."""
    try:
        _apply_follow_ups(session, upserts, deletes)
    except Exception:  # noqa: BLE001 - the nightly full refreshes catch up
        session.rollback()
        log.exception("Following up %d similar rows failed", len(upserts) + len(deletes))


def _release_dead_local_leases(session: Session) -> int:
    """Void leases held by processes of this host that no longer exist (a `kill -9`).

    Leases of other hosts run out by time (`OUTBOX_LEASE_S`)."""
    prefix = f"{socket.gethostname()}:"
    owners = session.scalars(
        select(IndexOutbox.claimed_by)
        .distinct()
        .where(IndexOutbox.claimed_until >= utcnow(), IndexOutbox.claimed_by.startswith(prefix))
    ).all()
    gone = [owner for owner in owners if owner and not _process_alive(owner[len(prefix) :])]
    if gone:
        session.execute(
            update(IndexOutbox)
            .where(IndexOutbox.claimed_by.in_(gone))
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return len(gone)


def _process_alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def consumer_name() -> str:
    """Who holds a lease: host and process, as `index status` shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _drain(
    bind,
    target: str,
    *,
    limit: int | None = None,
    batch: int = 500,
    owner: str | None = None,
    due_only: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Apply up to `limit` due rows of `target` with their own session; returns rows applied.

    Rows are leased before they are applied, so any number of web processes and workers may
    drain at once. A failing bid is backed off (and after `OUTBOX_MAX_ATTEMPTS` failures of
    its own, while other bids pass, set aside as dead) without holding up the rest;
    `due_only=False` (an explicit `index sync`) tries backed-off rows at once. Rows are taken
    in id order, each once per drain, so a drain ends even while some bids keep failing; and
    only those written before it began, so it ends under steady writes too (the worker's
    drain of one target chased new rows for a minute while the other target's waited).
    """
    registered = _consumers.get(target)
    if registered is None:
        return 0
    owner = owner or consumer_name()
    lease_s = _settings()[3]
    applied = last_id = 0
    if registered.batch:
        batch = min(batch, registered.batch)
    with Session(bind=bind, autoflush=False, expire_on_commit=False) as session:
        _release_dead_local_leases(session)
        ceiling = session.scalar(
            select(func.max(IndexOutbox.id)).where(IndexOutbox.target == target)
        )
        session.commit()
        while ceiling is not None and (limit is None or applied < limit):
            size = batch if limit is None else min(batch, limit - applied)
            rows = _claim(
                session,
                target,
                size,
                owner,
                lease_s,
                due_only=due_only,
                after_id=last_id,
                upto_id=ceiling,
            )
            if not rows:
                break
            last_id = rows[-1].id
            done, error = _apply_rows(session, registered, target, rows)
            applied += done
            if progress is not None:
                progress(len(rows))
            if error is not None:
                log.warning(
                    "Applying %s outbox rows failed for some bids; they are backed "
                    "off and retried: %r",
                    target,
                    error,
                )
                if not done:
                    raise error
    return applied


def sync(
    target: str | None = None,
    *,
    limit: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Drain pending rows for one target (or all registered ones); returns rows applied per target.

    `progress(target, rows)` is called after each applied batch."""
    targets = [target] if target else list(_consumers)
    bind = db.engine
    return {
        name: _drain(
            bind,
            name,
            limit=limit,
            due_only=False,
            progress=partial(progress, name) if progress else None,
        )
        for name in targets
    }


def listen() -> None:
    """Apply the automatic targets' rows after each commit (registered once per process)."""
    global _listening
    if _listening:
        return
    event.listen(Session, "after_commit", _after_commit)
    _listening = True


def due_waiting(targets: tuple[str, ...] = TARGETS) -> bool:
    """Whether a row of `targets` is due and not leased (what readers see waits for it); on a
    connection of its own, leaving no transaction open."""
    now = utcnow()
    with db.engine.connect() as conn:
        waiting = conn.scalar(
            select(IndexOutbox.id)
            .where(
                IndexOutbox.target.in_(targets),
                IndexOutbox.dead_at.is_(None),
                IndexOutbox.available_at <= now,
                or_(IndexOutbox.claimed_until.is_(None), IndexOutbox.claimed_until < now),
            )
            .limit(1)
        )
    return waiting is not None


def oldest_pending_age(
    session: Session | scoped_session | None = None, targets: tuple[str, ...] | None = None
) -> float:
    """Seconds since the oldest row (of `targets`, default all) still waiting to be applied
    was written (0 when none)."""
    session = session or db.session
    query = select(func.min(IndexOutbox.created_at)).where(IndexOutbox.dead_at.is_(None))
    if targets is not None:
        query = query.where(IndexOutbox.target.in_(targets))
    oldest = session.scalar(query)
    if oldest is None:
        return 0.0
    return max(0.0, (utcnow() - oldest).total_seconds())


def registered_targets() -> list[str]:
    return list(_consumers)


def drain(
    target: str, *, limit: int | None = None, batch: int = 500, owner: str | None = None
) -> int:
    """Apply up to `limit` due rows of `target` (the worker's step: one batch of a target
    that sets its own, the follow-ups); returns rows applied."""
    registered = _consumers.get(target)
    if registered is not None and registered.batch and limit is not None:
        limit = min(limit, registered.batch)
    return _drain(db.engine, target, limit=limit, batch=batch, owner=owner)


@dataclass
class TargetStatus:
    target: str
    pending: int
    failing: int
    dead: int
    leased: int
    oldest_pending_s: float
    last_error: str | None


def status(session: Session | scoped_session | None = None) -> list[TargetStatus]:
    """Per target: rows pending, failing (retried), dead, leased now; oldest age; last error."""
    session = session or db.session
    now = utcnow()
    result = []
    for target in sorted(set(TARGETS) | set(_consumers)):
        base = select(func.count(IndexOutbox.id)).where(IndexOutbox.target == target)
        live = base.where(IndexOutbox.dead_at.is_(None))
        oldest = session.scalar(
            select(func.min(IndexOutbox.created_at)).where(
                IndexOutbox.target == target, IndexOutbox.dead_at.is_(None)
            )
        )
        last_error = session.scalar(
            select(IndexOutbox.last_error)
            .where(IndexOutbox.target == target, IndexOutbox.last_error.is_not(None))
            .order_by(IndexOutbox.available_at.desc())
            .limit(1)
        )
        result.append(
            TargetStatus(
                target=target,
                pending=session.scalar(live) or 0,
                failing=session.scalar(live.where(IndexOutbox.attempts > 0)) or 0,
                dead=session.scalar(base.where(IndexOutbox.dead_at.is_not(None))) or 0,
                leased=session.scalar(live.where(IndexOutbox.claimed_until >= now)) or 0,
                oldest_pending_s=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
                last_error=last_error,
            )
        )
    return result


def requeue_dead(target: str | None = None, session: Session | scoped_session | None = None) -> int:
    """Give dead rows another chance (after the cause is fixed); returns how many."""
    session = session or db.session
    query = update(IndexOutbox).where(IndexOutbox.dead_at.is_not(None))
    if target:
        query = query.where(IndexOutbox.target == target)
    count = session.execute(  # type: ignore[attr-defined]  # an UPDATE: a CursorResult
        query.values(dead_at=None, attempts=0, available_at=utcnow()).execution_options(
            synchronize_session=False
        )
    ).rowcount
    session.commit()
    return count
