"""The worker: drains the outbox for every target and runs the periodic jobs, until stopped.

`flask --app portal worker` runs `run_worker`. Any number of workers (and web processes in
`INDEX_MODE=inline`) may run at once: outbox rows are leased before they are applied
(`search_index.outbox`), and a periodic job is claimed by one worker per interval through its
`job_run` row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bids.database import db, utcnow
from bids.models import JobRun
from search_index import get_index, outbox
from search_index.snapshots import warm_field_figures

log = logging.getLogger(__name__)


def _refit_similarity() -> str:
    from search_index import similarity

    return f"{similarity.rebuild()} bids refitted"


def _refresh_overlaps() -> str:
    from search_index.clusters import refresh_clusters

    report = refresh_clusters()
    db.session.commit()
    return f"{report.clusters} clusters"


def _prune_attachments() -> str:
    from bids.attachments import prune_orphan_files

    return f"{len(prune_orphan_files())} files pruned"


# name -> what it does; how often comes from WORKER_JOBS (see config.py).
JOBS: dict[str, Callable[[], str]] = {
    "similarity-rebuild": _refit_similarity,
    "overlaps-refresh": _refresh_overlaps,
    "attachments-prune": _prune_attachments,
}


def parse_schedule(spec: str) -> dict[str, timedelta]:
    """'similarity-rebuild=24h, overlaps-refresh=6h' -> {name: interval}; '' -> no jobs."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    schedule: dict[str, timedelta] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, every = item.partition("=")
        name, every = name.strip(), every.strip().lower()
        if name not in JOBS:
            raise ValueError(f"Unknown job {name!r} in WORKER_JOBS; known: {', '.join(JOBS)}")
        if not every or every[-1] not in units or not every[:-1].isdigit() or int(every[:-1]) < 1:
            raise ValueError(f"Job {name!r}: give an interval such as 30m, 6h or 1d, not {every!r}")
        schedule[name] = timedelta(seconds=int(every[:-1]) * units[every[-1]])
    return schedule


def claim_job(name: str, every: timedelta, owner: str) -> bool:
    """Take `name` for this run if it has not started within `every`; one worker wins."""
    now = utcnow()
    try:
        db.session.execute(insert(JobRun).values(name=name))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    taken = db.session.execute(
        update(JobRun)
        .where(
            JobRun.name == name, or_(JobRun.started_at.is_(None), JobRun.started_at <= now - every)
        )
        .values(started_at=now, claimed_by=owner, finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE: a CursorResult
    db.session.commit()
    return bool(taken)


def run_job(name: str) -> bool:
    """Run one periodic job now and record how it went; True when it succeeded."""
    error: str | None
    try:
        summary = JOBS[name]()
    except Exception as exc:  # noqa: BLE001 - recorded and logged; the worker goes on
        db.session.rollback()
        log.exception("Periodic job %s failed", name)
        ok, error = False, repr(exc)[:1000]
    else:
        log.info("Periodic job %s: %s", name, summary)
        ok, error = True, None
    db.session.execute(
        update(JobRun)
        .where(JobRun.name == name)
        .values(finished_at=utcnow(), ok=ok, last_error=error)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return ok


def job_runs() -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).order_by(JobRun.name)))


@dataclass
class WorkerReport:
    applied: dict[str, int] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    rounds: int = 0


def run_worker(
    *,
    once: bool = False,
    batch: int = 500,
    idle_sleep: float = 1.0,
    stop: threading.Event | None = None,
    jobs: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> WorkerReport:
    """Apply outbox rows batch by batch, every target in turn; run due jobs when idle.

    `once` drains what is due and returns; otherwise runs until `stop` is set. The search
    index's small segments are merged once nothing has been applied for
    `WORKER_TIDY_AFTER_S` (at once with `once`): under steady writes the outbox empties for
    a moment after every batch, and merging then re-merged the growing small segment each
    time, while new writes waited (a third of the worker's time in the load test). The
    insights' whole-field figures (about a second at 42k) are computed once nothing has been
    applied for `WORKER_FIGURES_AFTER_S`: under steady writes each generation lasts a moment,
    and computing every one took a seventh of the worker's time for figures no page read.
    """
    stop = stop or threading.Event()
    schedule = parse_schedule(current_app.config.get("WORKER_JOBS", "")) if jobs else {}
    tidy_after = float(current_app.config.get("WORKER_TIDY_AFTER_S", 10))
    figures_after = float(current_app.config.get("WORKER_FIGURES_AFTER_S", 2))
    owner = outbox.consumer_name()
    report = WorkerReport()
    last_busy = clock()
    while not stop.is_set():
        report.rounds += 1
        if _apply_round(report, batch, owner):
            last_busy = clock()
            continue
        if once or clock() - last_busy >= tidy_after:
            try:  # idle for a while: merge the search index's small segments
                get_index().tidy()
            except Exception:  # noqa: BLE001 - writes merge segments too; go on
                log.exception("Worker: merging the search index's segments failed")
        if once or clock() - last_busy >= figures_after:
            try:  # the insights' whole-field figures, once the writes have settled
                warm_field_figures(db.session)
            except Exception:  # noqa: BLE001 - a page computes them instead; the worker goes on
                db.session.rollback()
                log.exception("Worker: computing the field's figures failed")
        for name, every in schedule.items():
            if stop.is_set():
                break
            if claim_job(name, every, owner):
                run_job(name)
                report.jobs.append(name)
        db.session.remove()
        if once:
            break
        stop.wait(idle_sleep)
    return report


def _apply_round(report: WorkerReport, batch: int, owner: str) -> bool:
    """One batch of every target; whether any row was applied."""
    busy = False
    for target in outbox.registered_targets():
        try:
            if target == outbox.FOLLOW_UPS:
                done = _follow_ups(owner)
            else:
                done = outbox.drain(target, limit=batch, batch=batch, owner=owner)
        except Exception:  # noqa: BLE001 - rows are backed off in the outbox; go on
            log.exception("Worker: applying %s rows failed", target)
            done = 0
        report.applied[target] = report.applied.get(target, 0) + done
        busy = busy or done > 0
    return busy


def _follow_ups(owner: str) -> int:
    """Follow-up rows one at a time, at least one a round and at most FOLLOW_UP_BATCH, until a
    search or similar row is waiting: what readers see waits for one neighbourhood's refresh
    at most. Four taken together made rounds of up to 8 s on PostgreSQL under load."""
    applied = 0
    while applied < outbox.FOLLOW_UP_BATCH:
        done = outbox.drain(outbox.FOLLOW_UPS, limit=1, batch=1, owner=owner)
        applied += done
        if not done or outbox.due_waiting():
            break
    return applied


def wait_until_applied(timeout: float, poll: float = 0.2) -> bool:
    """Block until no row is pending (a running worker applies them); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.pending_count() == 0:
            return True
        db.session.rollback()
        time.sleep(poll)
    return outbox.pending_count() == 0
