"""Bringing every derived store up to date after a bulk write (an import), the fast way.

A few thousand changed bids are applied from the outbox in batches; when most of the corpus
is new (or nothing was built yet) the stores are rebuilt from the database instead, which is
several times faster than row by row. The Whoosh index is then rebuilt in a child process
while this one refits the similarity store (both are CPU-bound: on two cores the pair takes
as long as the longer, not the sum); PostgreSQL's search vectors were written with the rows
and need no rebuild. Clusters are refreshed over the whole corpus when more bids changed than
the neighbourhood follower takes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select
from tqdm import tqdm

from bids.database import db, vacuum_analyze
from bids.models import Bid
from search_index import get_index, outbox, rebuild_search_index

log = logging.getLogger(__name__)


@dataclass
class CatchUpReport:
    """Which path was taken and the seconds each step took."""

    path: str = "nothing"  # "nothing", "rows" or "rebuild"
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())
        how = {"rows": "applied from the outbox", "rebuild": "rebuilt from the database"}
        return f"Search, similarity and clusters {how.get(self.path, 'were up to date')}" + (
            f" ({steps})." if steps else "."
        )


def _bar(progress: bool, total: int, desc: str, position: int | None = None) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=" bids",
        file=sys.stderr,
        disable=None if progress else True,
        mininterval=0.5,
        position=position,
    )


def _search_child(app, progress: bool, total: int, seconds) -> None:
    """In a forked child: rebuild the Whoosh index, put the seconds it took in `seconds`."""
    code = 1
    try:
        db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
        with app.app_context():
            started = time.perf_counter()
            with _bar(progress, total, "search index", position=0) as bar:
                rebuild_search_index(db.session, progress=bar.update)
            db.session.remove()
            seconds.value = time.perf_counter() - started
            code = 0
    except BaseException:  # noqa: BLE001 - reported to the parent by the exit code
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _rebuild_stores(report: CatchUpReport, progress: bool, total: int) -> None:
    """Search and similarity rebuilt from the database, side by side where they can be."""
    from search_index import similarity

    child = seconds = None
    if getattr(get_index(), "kept_by_database", False):
        started = time.perf_counter()
        outbox.sync("search")  # the vectors were written with the rows: only the rows go
        # Most of the table is new: fresh statistics for the planner, and the visibility map
        # that lets the facet counts read their covering index alone (PostgreSQL's advice
        # after a bulk load), rather than whenever autovacuum comes by.
        vacuum_analyze(db.engine, Bid.__tablename__)
        report.seconds["search"] = time.perf_counter() - started
    elif "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        seconds = context.Value("d", 0.0)
        db.session.commit()  # the child reads what this process has written
        child = context.Process(
            target=_search_child,
            args=(current_app._get_current_object(), progress, total, seconds),  # type: ignore[attr-defined]
            daemon=False,  # it indexes in processes of its own (a large rebuild's MpWriter)
        )
        child.start()
    started = time.perf_counter()
    with _bar(progress, total, "similarity", position=1 if child else None) as bar:
        similarity.rebuild(progress=bar.update)
    report.seconds["similarity"] = time.perf_counter() - started
    if child is not None and seconds is not None:
        child.join()
        if child.exitcode == 0:
            report.seconds["search"] = seconds.value
        else:
            log.warning("The search index rebuild in a child process failed; rebuilding here")
    if "search" not in report.seconds:
        started = time.perf_counter()
        with _bar(progress, total, "search index") as bar:
            rebuild_search_index(db.session, progress=bar.update)
        report.seconds["search"] = time.perf_counter() - started


def choose_path(changed: int) -> str:
    """'rebuild' when the changed bids are most of the corpus (or no index exists yet)."""
    if not outbox.pending_count():
        return "nothing"
    total = db.session.scalar(select(func.count(Bid.id))) or 0
    share = float(current_app.config.get("IMPORT_REBUILD_SHARE", 0.5))
    minimum = int(current_app.config.get("IMPORT_REBUILD_MIN", 2000))
    if changed >= minimum and (changed >= share * total or not get_index().exists()):
        return "rebuild"
    return "rows"


def bring_up_to_date(changed: int, *, progress: bool = False) -> CatchUpReport:
    """Apply or rebuild until nothing derived lags the database; progress bars on a terminal."""
    from search_index.clusters import NEIGHBOURHOOD_BATCH, refresh_clusters

    report = CatchUpReport(path=choose_path(changed))
    if report.path == "nothing":
        return report
    total = db.session.scalar(select(func.count(Bid.id))) or 0
    if report.path == "rebuild":
        _rebuild_stores(report, progress, total)
    else:
        for target in outbox.registered_targets():
            started = time.perf_counter()
            with _bar(progress, outbox.pending_count(target), target) as bar:
                outbox.sync(target, progress=lambda _target, rows: bar.update(rows))
            report.seconds[target] = time.perf_counter() - started
    if report.path == "rebuild" or changed > NEIGHBOURHOOD_BATCH:
        started = time.perf_counter()
        refresh_clusters()
        db.session.commit()
        report.seconds["clusters"] = time.perf_counter() - started
    return report
