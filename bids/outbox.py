"""Recording which bids changed: `IndexOutbox` rows written in the same transaction as the change.

Every flush that adds, changes or deletes a bid (or its attachments, links, or the name
of its organisation or funder) writes one row per derived store (`TARGETS`), so a
rolled-back write records nothing and a committed one is never lost. Writes that bypass
the ORM (a bulk import) call `record_bid_changes`. Applying the rows is `search_index`'s
work (`search_index.outbox`); the domain only records them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, scoped_session

from bids.database import db, utcnow
from bids.models import Attachment, Bid, BidLink, IndexOutbox, Organisation

TARGETS = ("search", "similar")
UPSERT = "upsert"
DELETE = "delete"

_PENDING_KEY = "openbids_outbox_written"
_RECORDED_KEY = "openbids_outbox_recorded"
_DEFERRED_KEY = "openbids_outbox_deferred"


def _bid_changes(session: Session) -> dict[int, str]:  # noqa: C901 - one case per model a flush can touch
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
        elif (
            isinstance(obj, Organisation)
            and obj in session.dirty
            # Bids show their organisation's and funder's names: a rename changes their documents.
            and inspect(obj).attrs.name.history.has_changes()
        ):
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
    session.connection().execute(
        IndexOutbox.__table__.insert(),
        rows,
    )
    recorded.update(fresh)
    session.info[_PENDING_KEY] = True


def _after_flush(session: Session, flush_context) -> None:
    changes = _bid_changes(session)
    if changes:
        _write_rows(session, changes)


def record_bid_changes(
    bid_ids: Iterable[int], action: str = UPSERT, session: Session | scoped_session | None = None
) -> int:
    """Write outbox rows for bids changed without ORM events (bulk import). The caller commits."""
    if action not in (UPSERT, DELETE):
        raise ValueError("action must be 'upsert' or 'delete'")
    session = session or db.session
    ids = sorted({int(i) for i in bid_ids})
    if not ids:
        return 0
    now = utcnow()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        session.execute(
            IndexOutbox.__table__.insert(),
            [
                {"target": t, "bid_id": i, "action": action, "created_at": now, "attempts": 0}
                for i in chunk
                for t in TARGETS
            ],
        )
    session.info[_PENDING_KEY] = True
    return len(ids)


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, this session's commits record index work but apply none of it.

    For bulk imports: indexing batch by batch would cap their speed. The rows stay in the
    outbox for `search_index.sync`, `flask --app portal index sync` or a rebuild. Scoped to
    the session, so other requests and workers go on applying their own changes as usual.
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


def take_committed_rows(session: Session) -> bool:
    """Whether the commit just made wrote outbox rows to apply now.

    True once per such commit; False inside `deferred()` (the rows wait for a sync).
    """
    if session.info.get(_DEFERRED_KEY):
        return False
    return bool(session.info.pop(_PENDING_KEY, False))


def _forget_recorded(session: Session) -> None:
    # A new transaction starts afresh; after a rollback its rows are gone, so a retry of the
    # same changes writes them again.
    session.info.pop(_RECORDED_KEY, None)


def listen() -> None:
    """Register the session events that write outbox rows (once per process)."""
    if event.contains(Session, "after_flush", _after_flush):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _forget_recorded)
    event.listen(Session, "after_soft_rollback", _forget_soft_rollback)


def _forget_soft_rollback(session: Session, previous_transaction) -> None:
    _forget_recorded(session)
