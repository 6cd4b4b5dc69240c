"""The app's similarity store kept in step with the database: what the matcher reads of a
bid, the "similar" outbox consumer, and the full rebuild."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from bids.database import db, utcnow
from bids.markdown_render import markdown_to_text
from bids.models import Bid, IndexOutbox
from search_index.similarity.store import Doc, Snapshot, Store
from search_index.similarity.text import markdown_words

MAX_CHARS = 200_000


def init_app(app: Flask) -> None:
    from search_index.outbox import register_consumer

    app.extensions["similarity"] = Store(app.config["SIMILARITY_DIR"])
    register_consumer("similar", apply_changes, after_commit=True)


def get_store() -> Store:
    return current_app.extensions["similarity"]


def document_text(bid: Bid, body_text=markdown_words) -> str:
    """What the matcher reads of a bid: title, summary, body and attachments' text.

    `body_text` turns the Markdown body into text: the matcher's fast `markdown_words` by
    default; the comparison page passes `markdown_to_text` (`readable_text`).
    """
    parts = [bid.title, bid.summary, body_text(bid.body or "")]
    parts.extend(a.text for a in bid.attachments if a.text)
    return "\n\n".join(p for p in parts if p)[:MAX_CHARS]


def readable_text(bid: Bid) -> str:
    """What the comparison page shows of a bid: `document_text` with the Markdown rendered to
    plain text. The words are the same, so are the shared passages; `##` and `**` are gone."""
    return document_text(bid, markdown_to_text)


def _doc(bid: Bid) -> Doc:
    return Doc(bid.id, bid.organisation_id, bid.is_public, document_text(bid))


def _load_docs(session: Session, bid_ids: list[int] | None = None, progress=None) -> list[Doc]:
    """Docs of the given bids (all bids when None), read in chunks; `progress(n)` after each bid."""
    query = select(Bid).options(selectinload(Bid.attachments)).order_by(Bid.id)
    chunks = ([query] if bid_ids is None
              else [query.where(Bid.id.in_(bid_ids[i:i + 500])) for i in range(0, len(bid_ids), 500)])
    docs = []
    for chunk in chunks:
        for bid in session.scalars(chunk.execution_options(yield_per=1000)):
            docs.append(_doc(bid))
            if progress is not None:
                progress(1)
    return docs


def apply_changes(session: Session, upserts: list[int], deletes: list[int]) -> None:
    """Outbox consumer for target "similar": bring the changed bids into the store."""
    store = get_store()
    with store.locked():
        docs = _load_docs(session, upserts) if upserts else []
        gone = set(upserts) - {d.bid_id for d in docs}  # deleted since the row was written
        store.change(docs, sorted(set(deletes) | gone), all_docs=lambda: _load_docs(session))


def rebuild(progress=None) -> int:
    """Refit the vocabulary and rebuild every vector from the database; returns bids stored.

    Pending "similar" outbox rows written before the rebuild began are covered by it and
    deleted (committed here: a rebuild is a maintenance unit of work of its own).
    """
    store = get_store()
    started = utcnow()
    db.session.commit()
    with store.locked():
        docs = _load_docs(db.session, progress=progress)
        store.rebuild(docs)
    db.session.execute(delete(IndexOutbox).where(
        IndexOutbox.target == "similar", IndexOutbox.created_at < started))
    db.session.commit()
    return len(docs)


def current_snapshot() -> Snapshot | None:
    store = get_store()
    snap = store.snapshot()
    if snap is None:  # first use: build from the database (small sites, tests)
        rebuild()
        snap = store.snapshot()
    return snap
