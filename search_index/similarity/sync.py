"""The app's similarity store kept in step with the database: what the matcher reads of a
bid, the "similar" outbox consumer, and the full rebuild."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, scoped_session, selectinload

from bids.database import db, utcnow
from bids.markdown_render import markdown_to_text
from bids.models import Bid, IndexOutbox
from search_index.similarity.db_store import DbStore
from search_index.similarity.store import REFIT_GROWTH, Doc, Snapshot, Store
from search_index.similarity.text import markdown_words

MAX_CHARS = 200_000
# A bulk sync (an import's rows drained in batches) ends with a refit when more than this
# share of the store was added after the vocabulary was fitted: in the evaluation, a store
# with half its bids outside the vocabulary lost 1.5 to 2 points of recall@1
# (docs/similarity.md). Single edits never trigger it (a refit at 42k takes minutes).
REFIT_AFTER_BULK = 0.1
BULK_BATCH = 100


def similarity_backend(config) -> str:
    """ "files" (one node's SIMILARITY_DIR, the embedded default) or "database" (the tables of
    `db_models`, shared by every node; the default on a PostgreSQL database)."""
    chosen = (config.get("SIMILARITY_BACKEND") or "").strip().lower()
    if chosen in ("files", "database"):
        return chosen
    if chosen:
        raise RuntimeError(f"SIMILARITY_BACKEND must be files or database, not {chosen!r}.")
    url = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    return "database" if url.startswith(("postgresql", "postgres:")) else "files"


def init_app(app: Flask) -> None:
    from search_index.outbox import register_consumer

    backend = similarity_backend(app.config)
    app.config["SIMILARITY_BACKEND"] = backend
    store_class = DbStore if backend == "database" else Store
    app.extensions["similarity"] = store_class(
        app.config["SIMILARITY_DIR"],
        growth_factor=float(app.config.get("SIMILARITY_REFIT_GROWTH", REFIT_GROWTH)),
    )
    register_consumer("similar", apply_changes, after_commit=True)


def get_store() -> Store | DbStore:
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


def _load_docs(
    session: Session | scoped_session, bid_ids: list[int] | None = None, progress=None
) -> list[Doc]:
    """Docs of the given bids (all bids when None), read in chunks; `progress(n)` after each bid."""
    query = select(Bid).options(selectinload(Bid.attachments)).order_by(Bid.id)
    chunks = (
        [query]
        if bid_ids is None
        else [query.where(Bid.id.in_(bid_ids[i : i + 500])) for i in range(0, len(bid_ids), 500)]
    )
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
        snap = store.change(docs, sorted(set(deletes) | gone), all_docs=lambda: _load_docs(session))
        if (
            len(upserts) >= BULK_BATCH
            and snap is not None
            and snap.unfitted_share() > REFIT_AFTER_BULK
            and not _more_pending(session, set(upserts) | set(deletes))
        ):
            store.rebuild(_load_docs(session))


def _more_pending(session: Session, batch: set[int]) -> bool:
    """Whether "similar" rows of other bids than this batch's wait in the outbox."""
    query = select(func.count(IndexOutbox.id)).where(
        IndexOutbox.target == "similar", IndexOutbox.bid_id.not_in(sorted(batch))
    )
    return bool(session.scalar(query))


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
    db.session.execute(
        delete(IndexOutbox).where(IndexOutbox.target == "similar", IndexOutbox.created_at < started)
    )
    db.session.commit()
    return len(docs)


def current_snapshot() -> Snapshot | None:
    store = get_store()
    snap = store.snapshot()
    if snap is None:  # first use: build from the database (small sites, tests)
        rebuild()
        snap = store.snapshot()
    return snap
