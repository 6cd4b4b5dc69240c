"""The outbox keeps the search index in line with the database, even through locks and crashes."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from sqlalchemy import select, update
from whoosh.query import Term

from bids.database import utcnow
from bids.models import Attachment, Bid, BidLink, IndexOutbox
from search_index import get_index, record_bid_changes
from search_index import index as index_module
from tests.conftest import make_config

# These tests are of the Whoosh index the outbox feeds (locks, rebuilds, crashes between the
# commit and the index): on PostgreSQL too they use it (SEARCH_BACKEND=whoosh); the database's
# own engine needs no outbox (tests/test_search_postgres.py).
WHOOSH = {"SEARCH_BACKEND": "whoosh"}


@pytest.fixture
def app_config():
    return WHOOSH


def indexed_ids() -> set[int]:
    return set(get_index().stored())


def outbox_rows(db, target=None):
    query = select(IndexOutbox.target, IndexOutbox.bid_id, IndexOutbox.action)
    if target:
        query = query.where(IndexOutbox.target == target)
    return sorted(db.session.execute(query).all())


def test_change_writes_rows_for_both_targets_and_applies_search_after_commit(db, factory):
    from bids.publishing import create_bid

    org = factory.org()
    bid = create_bid(
        None, org, {"title": "Riverside orchard", "summary": "x"}, check_membership=False
    )
    # Written in the same transaction as the bid, once per target.
    assert outbox_rows(db) == [("search", bid.id, "upsert"), ("similar", bid.id, "upsert")]
    assert bid.id not in indexed_ids()
    db.session.commit()
    assert outbox_rows(db, "search") == []  # applied after commit
    assert bid.id in indexed_ids()


def test_rollback_leaves_neither_rows_nor_documents(db, factory):
    org = factory.org()
    from bids.publishing import create_bid

    bid = create_bid(
        None,
        org,
        {"title": "Never kept", "summary": "x", "visibility": "published"},
        check_membership=False,
    )
    bid_id = bid.id
    assert {r.bid_id for r in outbox_rows(db)} == {bid_id}  # written in the same transaction
    db.session.rollback()
    assert outbox_rows(db) == []
    assert bid_id not in indexed_ids()


def test_rows_are_deduplicated_per_transaction(db, factory):
    org = factory.org()
    bid = factory.bid(org)
    db.session.execute(IndexOutbox.__table__.delete())
    db.session.commit()
    bid.title = "First"
    db.session.flush()
    bid.title = "Second"
    db.session.flush()
    rows = outbox_rows(db, "similar")
    assert rows == [("similar", bid.id, "upsert")]
    db.session.commit()


def test_attachment_link_and_delete_are_recorded(db, factory):
    org = factory.org()
    a, b = factory.bid(org), factory.bid(org)
    db.session.execute(IndexOutbox.__table__.delete())
    db.session.commit()
    db.session.add(
        Attachment(
            bid_id=a.id, filename="x.pdf", size=1, sha256="0" * 64, text="hydroponic greenhouse"
        )
    )
    db.session.add(BidLink(from_bid_id=a.id, to_bid_id=b.id, kind="also_sent_to"))
    db.session.flush()
    assert {(r.bid_id, r.action) for r in outbox_rows(db, "similar")} == {
        (a.id, "upsert"),
        (b.id, "upsert"),
    }
    db.session.commit()
    searcher = get_index().searcher()
    assert [h["id"] for h in searcher.search(Term("text", "hydroponic"))] == [str(a.id)]
    db.session.delete(b)
    db.session.flush()
    assert ("search", b.id, "delete") in outbox_rows(db, "search")
    db.session.commit()
    assert b.id not in indexed_ids() and a.id in indexed_ids()


def test_locked_index_never_blocks_a_write_and_sync_applies_it_later(app, db, factory, runner):
    app.extensions["search_index"].lock_timeout = 0.05
    org = factory.org()
    ix = get_index().open()
    blocker = ix.writer()  # another process holds the lock
    try:
        bid = factory.bid(org, title="Written while locked")
    finally:
        blocker.cancel()
    assert db.session.get(Bid, bid.id) is not None
    row = db.session.scalars(select(IndexOutbox).where(IndexOutbox.target == "search")).one()
    assert row.attempts == 1 and "LockError" in row.last_error
    assert bid.id not in indexed_ids()
    result = runner.invoke(args=["index", "check"])
    assert result.exit_code == 1 and "missing: 1" in result.output
    result = runner.invoke(args=["index", "sync", "--target", "search"])
    assert result.exit_code == 0, result.output
    assert bid.id in indexed_ids()
    assert runner.invoke(args=["index", "check"]).exit_code == 0


def test_record_bid_changes_for_bulk_writes(app, db, factory, runner):
    org = factory.org()
    bid = factory.bid(org)
    with get_index().writing() as writer:
        writer.delete_by_term("id", str(bid.id))
    assert bid.id not in indexed_ids()
    assert record_bid_changes([bid.id, bid.id]) == 1
    db.session.commit()  # the commit drains "search"
    assert bid.id in indexed_ids()


def test_reindex_swaps_in_a_fresh_index_and_check_finds_drift(app, db, factory, runner):
    org = factory.org()
    bids = [factory.bid(org) for _ in range(3)]
    index = get_index()
    before = index.current_name()
    with index.writing() as writer:  # make drift of every kind
        writer.delete_by_term("id", str(bids[0].id))
        writer.update_document(id=str(bids[1].id), updated="old", title="stale")
        writer.update_document(id="999999", updated="x", title="ghost")
    result = runner.invoke(args=["index", "check"])
    assert result.exit_code == 1
    assert "missing: 1" in result.output and "stale: 1" in result.output
    assert "extra: 1 (999999)" in result.output
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "Indexed 3 bids" in result.output
    assert index.current_name() != before
    assert indexed_ids() == {b.id for b in bids}
    assert runner.invoke(args=["index", "check"]).exit_code == 0


def test_a_rebuild_redoes_only_what_changed_while_it_ran(app, db, factory, monkeypatch):
    """Bids written just before a rebuild (an import's) are read once, not indexed twice; a
    bid changed while the new index was being filled is redone from the database."""
    from search_index.index import SearchIndex

    org = factory.org()
    bids = [factory.bid(org, title=f"Allotment {n}") for n in range(4)]
    index = get_index()
    redone: list[list[int]] = []
    real_apply = SearchIndex.apply

    def recording_apply(self, session, upserts, deletes):
        redone.append(sorted(upserts))
        return real_apply(self, session, upserts, deletes)

    monkeypatch.setattr(SearchIndex, "apply", recording_apply)
    assert index.rebuild(db.session) == 4
    assert redone == [[]]  # before: all four again (written within the last seconds)

    real_load = index_module._load_bids
    edited = []

    def edit_during_build(session, ids):
        loaded = real_load(session, ids)
        if not edited:  # another writer commits after the build read this batch
            with db.engine.begin() as conn:
                conn.execute(
                    update(Bid)
                    .where(Bid.id == bids[2].id)
                    .values(title="Orchard", updated_at=utcnow())
                )
            edited.append(bids[2].id)
        return loaded

    monkeypatch.setattr(index_module, "_load_bids", edit_during_build)
    redone.clear()
    index.rebuild(db.session)
    assert redone[-1] == [bids[2].id]
    assert index.check(db.session).total == 0
    hits = index.searcher().search(Term("title", "orchard"))
    assert [hit["id"] for hit in hits] == [str(bids[2].id)]


def test_a_large_rebuild_indexes_in_several_processes_with_the_same_result(
    app, db, factory, monkeypatch
):
    org = factory.org()
    bids = [factory.bid(org, title=f"Orchard {n}", body=f"Apple tree number {n}") for n in range(6)]
    index = get_index()
    index.rebuild(db.session)
    one_process = {h["id"] for h in index.searcher().search(Term("text", "tree"), limit=None)}
    from whoosh.multiproc import MpWriter

    processes: list[int] = []
    real_init = MpWriter.__init__

    def counting_init(self, ix, procs=None, **kwargs):
        processes.append(procs)
        real_init(self, ix, procs=procs, **kwargs)

    monkeypatch.setattr(MpWriter, "__init__", counting_init)
    monkeypatch.setattr(index_module, "PARALLEL_REBUILD_MIN", 1)
    monkeypatch.setattr(index_module.os, "cpu_count", lambda: 2)
    assert index.rebuild(db.session) == 6
    assert processes == [2]  # one indexing process per core
    several = {h["id"] for h in index.searcher().search(Term("text", "tree"), limit=None)}
    assert several == one_process == {str(b.id) for b in bids}
    assert index.check(db.session).total == 0 and index.doc_count() == 6


# --- processes -------------------------------------------------------------------------


def _die_after_commit(config: dict, title: str) -> None:
    """Child: commit a bid, then die before its index update runs."""
    from bids.database import db as child_db
    from portal import create_app
    from search_index import register_consumer

    app = create_app(config)
    with app.app_context():
        register_consumer("search", lambda *args: os._exit(3), after_commit=True)
        from tests.conftest import Factory

        factory = Factory(child_db)
        org = factory.org(f"Org of {title}")
        factory.bid(org, title=title)
    os._exit(0)  # not reached: the commit's hook killed us


def test_process_killed_between_commit_and_index_update_loses_nothing(app, db, runner, tmp_path):
    config = make_config(tmp_path, **WHOOSH)
    child = multiprocessing.get_context("fork").Process(
        target=_die_after_commit, args=(config, "Lighthouse restoration")
    )
    child.start()
    child.join(60)
    assert child.exitcode == 3
    bid = db.session.scalars(select(Bid).where(Bid.title == "Lighthouse restoration")).one()
    assert bid.id not in indexed_ids()
    assert runner.invoke(args=["index", "check"]).exit_code == 1
    result = runner.invoke(args=["index", "sync"])
    assert result.exit_code == 0, result.output
    assert bid.id in indexed_ids()


def _write_bids(config: dict, worker: int, count: int) -> None:
    from bids.database import db as child_db
    from portal import create_app
    from tests.conftest import Factory

    app = create_app({**config, "SEARCH_LOCK_TIMEOUT_S": 0.2})
    with app.app_context():
        factory = Factory(child_db)
        org = factory.org(f"Writer {worker}")
        for n in range(count):
            factory.bid(org, title=f"Concurrent w{worker}n{n}")
    os._exit(0)


@pytest.mark.parametrize("workers,count", [(4, 8)])
def test_concurrent_writer_processes_lose_nothing(app, db, runner, tmp_path, workers, count):
    from bids.models import OrgKind
    from bids.organisations import find_or_create_organisation

    # The shared funder exists first: concurrent creation of one organisation is not under test.
    find_or_create_organisation("National Lottery Community Fund", None, kind=OrgKind.FUNDER)
    db.session.commit()
    config = make_config(tmp_path, **WHOOSH)
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_write_bids, args=(config, w, count)) for w in range(workers)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    assert runner.invoke(args=["index", "sync"]).exit_code == 0
    ids = set(db.session.scalars(select(Bid.id)))
    assert len(ids) == workers * count
    assert indexed_ids() == ids
    assert runner.invoke(args=["index", "check"]).exit_code == 0


def test_outbox_ids_are_never_reused(app, db):
    """Consumers delete applied rows by id: a reused id would delete a newer, unapplied change.

    SQLite hands out a deleted row's id again unless the table is AUTOINCREMENT; this lost a
    bid in the concurrent-writers test (two consumers drained the same rows while a writer's
    new row took one of their ids).
    """
    from sqlalchemy import delete, func

    from bids.models import IndexOutbox
    from search_index import record_bid_changes

    app.config["SEARCH_SYNC_AFTER_COMMIT"] = 0
    record_bid_changes([1])
    db.session.commit()
    first = db.session.scalar(select(func.max(IndexOutbox.id)))
    db.session.execute(delete(IndexOutbox))
    db.session.commit()
    record_bid_changes([2])
    db.session.commit()
    assert db.session.scalar(select(func.min(IndexOutbox.id))) > first
