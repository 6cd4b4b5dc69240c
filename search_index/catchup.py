"""Bringing every derived store up to date after a bulk write (an import), the fast way.

A few thousand changed bids are applied from the outbox in batches; when most of the corpus
is new (or nothing was built yet) the stores are rebuilt from the database instead, which is
several times faster than row by row. Clusters are refreshed over the whole corpus when more
bids changed than the neighbourhood follower takes on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select
from tqdm import tqdm

from bids.database import db
from bids.models import Bid
from search_index import get_index, outbox, rebuild_search_index


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


def _bar(progress: bool, total: int, desc: str) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=" bids",
        file=sys.stderr,
        disable=None if progress else True,
        mininterval=0.5,
    )


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
    from search_index import similarity
    from search_index.clusters import NEIGHBOURHOOD_BATCH, refresh_clusters

    report = CatchUpReport(path=choose_path(changed))
    if report.path == "nothing":
        return report
    total = db.session.scalar(select(func.count(Bid.id))) or 0
    if report.path == "rebuild":
        started = time.perf_counter()
        with _bar(progress, total, "search index") as bar:
            rebuild_search_index(db.session, progress=bar.update)
        report.seconds["search"] = time.perf_counter() - started
        started = time.perf_counter()
        with _bar(progress, total, "similarity") as bar:
            similarity.rebuild(progress=bar.update)
        report.seconds["similarity"] = time.perf_counter() - started
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
