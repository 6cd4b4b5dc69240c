"""Everything the search index and the similarity matcher know (derived data, rebuildable)."""

from __future__ import annotations

from flask import Flask, current_app

from search_index import pg_schema  # noqa: F401 - PostgreSQL's search DDL for create_all
from search_index.outbox import record_bid_changes, register_consumer, sync

__all__ = [
    "get_index",
    "init_app",
    "rebuild_search_index",
    "record_bid_changes",
    "register_consumer",
    "sync",
]


def get_index():
    """The search index of the current app."""
    return current_app.extensions["search_index"]


def rebuild_search_index(session, progress=None) -> int:
    """Rebuild the index aside and swap it in; outbox rows it already covers are dropped."""
    from sqlalchemy import delete

    from bids.database import utcnow
    from bids.models import IndexOutbox

    started = utcnow()
    session.commit()
    count = get_index().rebuild(session, progress=progress)
    # Rows written before the rebuild began describe states it has read; later ones stay.
    session.execute(
        delete(IndexOutbox).where(IndexOutbox.target == "search", IndexOutbox.created_at < started)
    )
    session.commit()
    return count


def search_backend(config) -> str:
    """ "whoosh" (the embedded default) or "postgres" (the default on a PostgreSQL database)."""
    chosen = (config.get("SEARCH_BACKEND") or "").strip().lower()
    url = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    is_postgres = url.startswith(("postgresql", "postgres:"))
    if chosen == "postgres" and not is_postgres:
        raise RuntimeError("SEARCH_BACKEND=postgres needs a PostgreSQL DATABASE_URL.")
    if chosen in ("whoosh", "postgres"):
        return chosen
    if chosen:
        raise RuntimeError(f"SEARCH_BACKEND must be whoosh or postgres, not {chosen!r}.")
    return "postgres" if is_postgres else "whoosh"


def _apply_search(session, upserts: list[int], deletes: list[int]) -> None:
    get_index().apply(session, upserts, deletes)


def init_app(app: Flask) -> None:
    """Bind the index services to the app (outbox consumers and followers, index locations)."""
    from search_index import outbox, similarity
    from search_index.clusters import follow_similarity_changes
    from search_index.filters import SearchLimits
    from search_index.index import SearchIndex
    from search_index.network import follow_similarity_changes as follow_for_network

    app.config.setdefault("SEARCH_LOCK_TIMEOUT_S", 5.0)
    app.config.setdefault("SEARCH_SYNC_AFTER_COMMIT", 2000)
    backend = search_backend(app.config)
    app.config["SEARCH_BACKEND"] = backend
    if backend == "postgres":
        from search_index.pg_service import PgSearchIndex, PgSearchService

        app.extensions["search_index"] = PgSearchIndex()
        app.extensions["search_service"] = PgSearchService(SearchLimits.from_config(app.config))
    else:
        from search_index import whoosh_io

        whoosh_io.install()  # segments are read in place, not copied per reader
        app.extensions["search_index"] = SearchIndex(
            app.config["SEARCH_INDEX_DIR"],
            lock_timeout=float(app.config["SEARCH_LOCK_TIMEOUT_S"]),
        )
    register_consumer("search", _apply_search, after_commit=True)
    similarity.init_app(app)
    # Clusters follow the similarity store: each published or changed bid's neighbourhood is redone.
    outbox.follow("similar", follow_similarity_changes)
    # So does the network map: its cached copy is updated around each changed bid.
    outbox.follow("similar", follow_for_network)
    outbox.listen()
