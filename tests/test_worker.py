"""The worker: leases, retries, dead letters, kill -9, periodic jobs, and INDEX_MODE=worker."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from bids.database import utcnow
from bids.models import Bid, IndexOutbox, JobRun
from search_index import get_index, outbox, record_bid_changes
from search_index.similarity import similar_to_bid
from search_index.worker import JOBS, claim_job, parse_schedule, run_worker
from tests.conftest import make_config

TEXT = (
    "Neighbours in the valley share tools, skills and a weekly meal, and the network of "
    "volunteers keeps isolated older residents in touch through the winter months."
)


@pytest.fixture
def app_config():
    # The worker's index work is the Whoosh index's (PostgreSQL's engine needs none).
    return {
        "INDEX_MODE": "worker",
        "WORKER_JOBS": "",
        "OUTBOX_BACKOFF_S": 0,
        "SEARCH_BACKEND": "whoosh",
    }


def indexed_ids() -> set[int]:
    return set(get_index().stored())


def test_in_worker_mode_a_write_returns_without_index_work_and_the_worker_applies_it(db, factory):
    one = factory.bid(factory.org("Valley Share"), title="Valley tool share", body=TEXT).id
    two = factory.bid(factory.org("Hill Share"), title="Hill tool share", body=TEXT).id
    assert outbox.pending_count() == 4  # two bids, two targets: nothing applied by the commit
    assert indexed_ids() == set()

    report = run_worker(once=True)

    assert report.applied == {"search": 2, "similar": 2, outbox.FOLLOW_UPS: 2}
    assert outbox.pending_count() == 0
    assert indexed_ids() == {one, two}
    assert [m.bid.id for m in similar_to_bid(None, db.session.get(Bid, one))] == [two]


def _failing_for(bad_bid: int, calls: Counter):
    def apply(session, upserts, deletes):
        if bad_bid in upserts:
            calls[("failed", bad_bid)] += 1
            raise RuntimeError(f"cannot index bid {bad_bid}")
        calls.update(upserts)

    return apply


def test_under_steady_writes_each_round_serves_every_target(app, db, monkeypatch):
    """A drain applies the rows written before it began. It chased the rows written while it
    ran, so under steady writes one target's drain went on for a minute (until `limit`) and
    the other target's rows waited: 99 s of lag in the load test."""
    applied: list[tuple[str, list[int]]] = []
    writes = iter(range(100, 110))

    def consumer(target):
        def apply(session, upserts, deletes):
            applied.append((target, upserts))
            new = next(writes, None) if target == "similar" else None
            if new is not None:  # a web write while it applies
                with app.app_context():
                    record_bid_changes([new])
                    db.session.commit()

        return outbox.Consumer(apply, after_commit=False)

    for target in ("search", "similar"):
        monkeypatch.setitem(outbox._consumers, target, consumer(target))
    monkeypatch.setattr(outbox, "_followers", {})  # they read the real similarity store
    record_bid_changes([1])
    db.session.commit()

    run_worker(stop=_rounds(3), jobs=False, idle_sleep=0)

    assert applied == [
        ("search", [1]),
        ("similar", [1]),  # writes 100
        ("search", [100]),
        ("similar", [100]),  # writes 101
        ("search", [101]),
        ("similar", [101]),  # writes 102
    ]


def test_follow_ups_are_rows_of_their_own_taken_a_few_a_round(app, db, factory, monkeypatch):
    """The clusters' neighbourhood refresh ran inside the similar rows' drain, so under steady
    writes search and similar waited for it (86% of the worker's time in the load test), and a
    `kill -9` after the similar rows were deleted lost it. Now the similar drain writes a
    follow-up row per bid in the transaction that deletes its rows, and a worker round takes
    at most FOLLOW_UP_BATCH of them."""
    followed: list[list[int]] = []
    monkeypatch.setitem(
        outbox._followers, "similar", [lambda session, upserts, deletes: followed.append(upserts)]
    )
    org = factory.org("Valley Share")
    ids = [factory.bid(org, title=f"Valley tool share {n}", body=TEXT).id for n in range(6)]
    outbox.drain("search")
    outbox.drain("similar")
    assert followed == []  # nothing followed up inside the similar drain ...
    assert outbox.pending_count("similar") == 0
    assert outbox.pending_count(outbox.FOLLOW_UPS) == 6  # ... but nothing lost either

    run_worker(stop=_rounds(1), jobs=False, idle_sleep=0)
    assert followed == [[i] for i in ids[: outbox.FOLLOW_UP_BATCH]]  # one at a time
    run_worker(once=True, jobs=False)
    assert sorted(sum(followed, [])) == ids and outbox.pending_count() == 0


def test_follow_ups_yield_the_round_to_a_write_waiting_for_search(app, db, factory, monkeypatch):
    """A round took FOLLOW_UP_BATCH follow-ups together, while a write made meanwhile waited
    for all of them (rounds of up to 8 s on PostgreSQL under load). Now a round takes them one
    at a time and ends once a search or similar row waits."""
    org = factory.org("Valley Share")
    ids = [factory.bid(org, title=f"Valley tool share {n}", body=TEXT).id for n in range(6)]
    outbox.drain("search")
    outbox.drain("similar")
    assert outbox.pending_count(outbox.FOLLOW_UPS) == 6
    followed: list[list[int]] = []
    written: list[int] = []

    def follower(session, upserts, deletes):
        followed.append(upserts)
        if len(followed) == 2:  # a write arrives while the second follow-up runs
            written.append(factory.bid(org, title="Valley seed swap", body=TEXT).id)

    monkeypatch.setitem(outbox._followers, "similar", [follower])
    run_worker(stop=_rounds(1), jobs=False, idle_sleep=0)
    assert followed == [[ids[0]], [ids[1]]]  # before: the four, the write waiting behind them
    assert outbox.pending_count("search") == 1  # the next round starts with it
    run_worker(stop=_rounds(1), jobs=False, idle_sleep=0)
    assert written[0] in indexed_ids()
    assert followed[2:] == [[i] for i in ids[2:]]  # nothing waits: four this round


def test_a_claim_takes_no_more_rows_than_asked_whatever_the_plan(app, db, factory):
    """On PostgreSQL the claim's `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
    LOCKED)` could run the subquery again for each row it updated (a nested loop over the
    outbox), each run skipping the rows just taken: a claim of one took all six (CI's fresh
    database chose that plan). The plan forced here; the rows are now chosen once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the planner's choice is PostgreSQL's (TEST_DATABASE_URL)")
    from sqlalchemy import event

    org = factory.org("Valley Share")
    for n in range(6):
        factory.bid(org, title=f"Valley tool share {n}", body=TEXT)
    knobs = ("hashagg", "hashjoin", "mergejoin", "sort", "material")

    def nested_loops(dbapi_connection, record, proxy):
        with dbapi_connection.cursor() as cursor:
            for knob in knobs:
                cursor.execute(f"SET enable_{knob} = off")

    event.listen(db.engine, "checkout", nested_loops)
    try:
        assert outbox.drain("search", limit=1, batch=1) == 1  # before: 6
    finally:
        event.remove(db.engine, "checkout", nested_loops)
        db.engine.dispose()  # the settings stay with the connections
    assert outbox.pending_count("search") == 5


def _rounds(count: int) -> threading.Event:
    """A stop event for `run_worker` that is set once `count` rounds have run."""

    class Rounds(threading.Event):
        def is_set(self) -> bool:
            self.rounds = getattr(self, "rounds", 0) + 1
            return self.rounds > count

    return Rounds()


def test_a_bid_that_keeps_failing_is_set_aside_and_does_not_block_the_rest(app, db, monkeypatch):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    calls: Counter = Counter()
    monkeypatch.setitem(
        outbox._consumers, "search", outbox.Consumer(_failing_for(2, calls), after_commit=False)
    )
    monkeypatch.setitem(
        outbox._consumers, "similar", outbox.Consumer(lambda *a: None, after_commit=False)
    )
    record_bid_changes([1, 2, 3])
    db.session.commit()

    for _ in range(4):
        run_worker(once=True)

    rows = db.session.execute(
        select(IndexOutbox.bid_id, IndexOutbox.attempts, IndexOutbox.dead_at).where(
            IndexOutbox.target == "search"
        )
    ).all()
    assert [(r.bid_id, r.attempts, r.dead_at is not None) for r in rows] == [(2, 3, True)]
    assert calls[1] == 1 and calls[3] == 1  # applied once each, never held up by bid 2
    status = {s.target: s for s in outbox.status()}
    assert status["search"].dead == 1 and status["search"].pending == 0
    assert "cannot index bid 2" in status["search"].last_error
    run_worker(once=True)
    assert calls[("failed", 2)] == 4  # in the batch, then alone 3 times; dead: no longer tried ...
    assert outbox.requeue_dead("search") == 1  # ... until someone requeues them
    assert outbox.pending_count("search") == 1


def test_a_failure_of_the_whole_store_backs_off_and_converges_without_a_human(
    app, db, factory, monkeypatch
):
    """The index folder unwritable for a while: rows wait, nothing is dead, then all apply."""
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    index = get_index()
    real_apply = index.apply
    broken = {"on": True}

    def apply(session, upserts, deletes):
        if broken["on"]:
            raise PermissionError("index folder is read-only")
        real_apply(session, upserts, deletes)

    monkeypatch.setattr(index, "apply", apply)
    bids = [factory.bid(factory.org(f"Org {n}")).id for n in range(3)]
    for _ in range(4):
        run_worker(once=True)
        db.session.execute(IndexOutbox.__table__.update().values(available_at=utcnow()))
        db.session.commit()
    status = {s.target: s for s in outbox.status()}
    assert status["search"].pending == 3 and status["search"].dead == 0
    assert status["search"].failing == 3
    broken["on"] = False
    run_worker(once=True)
    assert indexed_ids() == set(bids)
    assert outbox.pending_count() == 0


def test_backed_off_rows_wait_for_the_worker_but_index_sync_takes_them_at_once(
    app, db, monkeypatch
):
    app.config["OUTBOX_BACKOFF_S"] = 3600
    fail = {"on": True}

    def apply(session, upserts, deletes):
        if fail["on"]:
            raise RuntimeError("locked")

    monkeypatch.setitem(outbox._consumers, "search", outbox.Consumer(apply, after_commit=False))
    record_bid_changes([7])
    db.session.commit()
    run_worker(once=True)
    fail["on"] = False
    run_worker(once=True)
    assert outbox.pending_count("search") == 1  # still backing off
    assert outbox.sync("search") == {"search": 1}
    assert outbox.pending_count("search") == 0


def test_two_workers_at_once_apply_each_row_once(app, db, monkeypatch):
    seen: Counter = Counter()
    lock = threading.Lock()

    def apply_to(target):
        def apply(session, upserts, deletes):
            with lock:
                seen.update((target, i) for i in upserts)
            time.sleep(0.01)

        return apply  # widen the window in which two workers could take the same rows

    for target in ("search", "similar"):
        monkeypatch.setitem(
            outbox._consumers, target, outbox.Consumer(apply_to(target), after_commit=False)
        )
    monkeypatch.setattr(outbox, "_followers", {})  # the clusters' follower reads the real store
    record_bid_changes(range(1, 201))
    db.session.commit()
    errors: list[BaseException] = []

    def work():
        try:
            with app.app_context():
                run_worker(once=True, batch=20)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert outbox.pending_count() == 0
    assert set(seen) == {(t, i) for t in ("search", "similar") for i in range(1, 201)}
    assert set(seen.values()) == {1}  # once per target, never twice


def _worker_killed_mid_batch(config: dict, started_path: str) -> None:
    from portal import create_app

    app = create_app(config)
    with app.app_context():

        def hang(session, upserts, deletes):
            with open(started_path, "w") as fh:
                fh.write("applying")
            time.sleep(600)

        outbox.register_consumer("search", hang)
        run_worker(once=True)
    os._exit(0)


def test_kill_9_of_the_worker_mid_batch_loses_nothing(app, db, factory, tmp_path):
    bid = factory.bid(factory.org("Harbour Trust"), title="Harbour steps").id
    started = tmp_path / "started"
    config = make_config(tmp_path, INDEX_MODE="worker", WORKER_JOBS="", SEARCH_BACKEND="whoosh")
    child = multiprocessing.get_context("fork").Process(
        target=_worker_killed_mid_batch, args=(config, str(started))
    )
    child.start()
    for _ in range(600):
        if started.exists():
            break
        time.sleep(0.05)
    assert started.exists(), "the worker never reached its batch"
    leased = db.session.scalars(
        select(IndexOutbox.claimed_by).where(IndexOutbox.target == "search")
    ).all()
    assert leased == [f"{os.uname().nodename}:{child.pid}"]
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    db.session.rollback()

    run_worker(once=True)  # the dead worker's lease is void: its rows are applied again

    assert bid in indexed_ids()
    assert outbox.pending_count() == 0


def test_schedule_is_parsed_strictly():
    assert parse_schedule("similarity-rebuild=1d, overlaps-refresh=6h") == {
        "similarity-rebuild": timedelta(days=1),
        "overlaps-refresh": timedelta(hours=6),
    }
    assert parse_schedule("") == {}
    with pytest.raises(ValueError, match="Unknown job"):
        parse_schedule("reticulate=1h")
    with pytest.raises(ValueError, match="interval"):
        parse_schedule("overlaps-refresh=soon")


def test_a_periodic_job_runs_once_per_interval_whichever_worker_asks(app, db, monkeypatch):
    runs: list[str] = []
    monkeypatch.setitem(JOBS, "attachments-prune", lambda: runs.append("prune") or "done")
    app.config["WORKER_JOBS"] = "attachments-prune=1h"

    run_worker(once=True)
    run_worker(once=True)  # a second worker (or round) within the hour does not run it again
    assert runs == ["prune"]
    job = db.session.get(JobRun, "attachments-prune")
    assert job.ok is True and job.finished_at is not None
    assert not claim_job("attachments-prune", timedelta(hours=1), "other:1")

    job.started_at = utcnow() - timedelta(hours=2)  # an hour later it is due again
    db.session.commit()
    run_worker(once=True)
    assert runs == ["prune", "prune"]


def test_a_failing_job_is_recorded_and_the_worker_goes_on(app, db, monkeypatch):
    def broken():
        raise RuntimeError("disk full")

    monkeypatch.setitem(JOBS, "overlaps-refresh", broken)
    app.config["WORKER_JOBS"] = "overlaps-refresh=1h"
    report = run_worker(once=True)
    assert report.jobs == ["overlaps-refresh"]
    job = db.session.get(JobRun, "overlaps-refresh")
    assert job.ok is False and "disk full" in job.last_error


def test_the_cli_worker_and_index_status(db, factory, runner):
    factory.bid(factory.org("Moor Trust"))
    status = runner.invoke(args=["index", "status"])
    assert status.exit_code == 0, status.output
    assert "search: 1 pending, 0 failing, 0 dead" in status.output
    result = runner.invoke(args=["worker", "--once", "--no-jobs"])
    assert result.exit_code == 0, result.output
    assert "applied clusters 1, search 1, similar 1" in result.output
    assert "search: 0 pending" in runner.invoke(args=["index", "status"]).output


def test_writes_merge_segments_of_one_size_and_the_idle_worker_the_rest(app, db, factory):
    """A write merges only when MERGE_FACTOR segments of one size are there (Whoosh's policy
    re-merged every small segment, the growing one too, every fifth commit: up to 2 s at 42k);
    the worker merges the small ones left once the outbox is drained. Search sees every bid."""
    from search_index.index import MERGE_FACTOR

    org = factory.org("Valley Share")
    for n in range(30):
        factory.bid(org, title=f"Valley tool share {n}", body=TEXT)
    run_worker(once=True, jobs=False)
    index = get_index()
    assert index.segment_count() == 1
    for n in range(6):  # each applied on its own, as a worker under steady writes does
        factory.bid(org, title=f"Valley seed swap {n}", body=TEXT)
        outbox.drain("search")
    assert index.segment_count() == 7  # Whoosh's own policy had merged at the fifth

    run_worker(once=True, jobs=False)  # nothing to apply: the idle worker merges

    assert index.segment_count() == 2  # the 30, and the six merged
    assert len(indexed_ids()) == 36
    assert index.tidy() is False  # nothing small left

    assert MERGE_FACTOR == 8
    for n in range(7):
        factory.bid(org, title=f"Valley bike repair {n}", body=TEXT)
        outbox.drain("search")
    assert index.segment_count() == 9  # the 30; the 6 and seven single bids: one size
    factory.bid(org, title="Valley bike repair 7", body=TEXT)
    outbox.drain("search")
    assert index.segment_count() == 2  # the eighth write merged the eight with its own
    assert len(indexed_ids()) == 44


def test_under_steady_writes_the_worker_merges_only_after_a_quiet_spell(
    app, db, factory, monkeypatch
):
    """Steady writes empty the outbox after every batch. The worker merged the small segments
    each time (re-merging the growing one while new writes waited: a third of its time in
    the load test); it now merges once nothing was applied for WORKER_TIDY_AFTER_S."""
    app.config["WORKER_TIDY_AFTER_S"] = 10
    org = factory.org("Valley Share")
    for n in range(30):
        factory.bid(org, title=f"Valley tool share {n}", body=TEXT)
    run_worker(once=True, jobs=False)  # a one-off drain merges at once
    index = get_index()
    assert index.segment_count() == 1

    now = [0.0]
    merged_at: list[float] = []
    tidy = index.tidy
    monkeypatch.setattr(index, "tidy", lambda: merged_at.append(now[0]) or tidy())

    class Seconds(threading.Event):
        """The worker's idle wait: four seconds go by, with a write at 4, 8 and 12."""

        def wait(self, timeout=None):
            now[0] += 4
            if now[0] <= 12:
                factory.bid(org, title=f"Valley seed swap {now[0]:.0f}", body=TEXT)
            if now[0] >= 32:
                self.set()
            return self.is_set()

    run_worker(stop=Seconds(), jobs=False, idle_sleep=0, clock=lambda: now[0])

    assert merged_at == [24.0, 28.0]  # from ten seconds after the last write was applied
    assert index.segment_count() == 2  # the 30; the three writes merged once
    assert len(indexed_ids()) == 33


def test_under_steady_writes_the_worker_computes_the_fields_figures_once_they_settle(
    app, db, factory, monkeypatch
):
    """The worker computed the insights' whole-field figures whenever the outbox emptied:
    under steady writes after every batch, for a generation the next write replaced (a
    seventh of its time in the load test). Now only after WORKER_FIGURES_AFTER_S quiet."""
    from search_index import worker

    app.config["WORKER_FIGURES_AFTER_S"] = 3
    org = factory.org("Valley Share")
    now = [0.0]
    warmed: list[float] = []
    monkeypatch.setattr(worker, "warm_field_figures", lambda session: warmed.append(now[0]))

    class Seconds(threading.Event):
        """The worker's idle wait: a second goes by, with a write each second up to 10."""

        def wait(self, timeout=None):
            now[0] += 1
            if now[0] <= 10:
                factory.bid(org, title=f"Valley seed swap {now[0]:.0f}", body=TEXT)
            if now[0] >= 16:
                self.set()
            return self.is_set()

    run_worker(stop=Seconds(), jobs=False, idle_sleep=0, clock=lambda: now[0])

    assert warmed == [13.0, 14.0, 15.0]  # before: every second from 0, the writes' too
    assert len(indexed_ids()) == 10
    run_worker(once=True, jobs=False)  # a one-off drain computes them at once
    assert warmed[-1] == 16.0


def test_an_idle_worker_on_an_empty_index_has_nothing_to_merge(app, db):
    """A fresh site's worker tidies an index with no segment yet: nothing to merge, no error
    (it raised on the empty index's reader, every idle second)."""
    assert get_index().segments() == []
    assert get_index().tidy() is False
    run_worker(once=True, jobs=False)
