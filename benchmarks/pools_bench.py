"""Funders' pool benchmark: clustering the whole corpus and a pool's dashboard at corpus scale.

- full `refresh_clusters` over every published bid (target <= 60 s), then a second refresh of
  unchanged data (stability: nothing may be created, changed or removed);
- a neighbourhood refresh around one bid (what each publish costs);
- the dashboard of a pool whose members are the corpus's three largest funders (so nearly
  every cluster involves a member), server time through the test client (target <= 300 ms),
  with and without a filter, and its CSV export;
- resident memory after all this.

The similarity store is built first if no earlier benchmark built it; the import's queued
"similar" outbox rows are then covered by it and dropped, so later commits do not replay them.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from benchmarks import (
    BenchContext,
    Row,
    Stopwatch,
    cpu_seconds,
    current_rss_mb,
    ensure_similarity_store,
    peak_rss_mb,
    percentiles,
)

REFRESH_TARGET_S = 60
DASHBOARD_TARGET_MS = 300


def _pool_of_largest_funders():
    """A pool of the three funders with most bids, and a user who belongs to all three."""
    from bids.database import db
    from bids.models import Bid, Membership, Organisation, OrgKind, Role, User
    from bids.pools import services

    top = db.session.execute(
        select(Bid.funder_id, func.count(Bid.id))
        .where(Bid.funder_id.is_not(None))
        .group_by(Bid.funder_id)
        .order_by(func.count(Bid.id).desc())
        .limit(3)
    ).all()
    funders = [db.session.get(Organisation, fid) for fid, _ in top]
    user = User(email="pool-bench@example.org", display_name="Pool Bench")
    user.set_password("bench password 123")
    db.session.add(user)
    for org in funders:
        org.kind = OrgKind.FUNDER
        db.session.add(Membership(user=user, organisation=org, role=Role.OWNER))
    db.session.flush()
    pool = services.create_pool(user, funders[0], {"name": "Bench Pool"})
    for org in funders[1:]:
        invitation = services.invite_funder(user, pool, org)
        services.respond_to_invitation(user, invitation.id, True)
    db.session.commit()
    return pool.id, user.id, [(o.name, n) for o, (_, n) in zip(funders, top, strict=True)]


def run(ctx: BenchContext) -> list[Row]:
    from bids.database import db
    from bids.pools.models import OverlapCluster, OverlapClusterMember
    from search_index.clusters import _settings, refresh_clusters, refresh_neighbourhood

    app = ctx.app
    rows: list[Row] = []
    with app.app_context():
        store_s = ensure_similarity_store()
        if store_s:
            rows.append(Row("similarity store build (before clustering)", round(store_s, 1), "s"))

        threshold = _settings()[0]
        rss_before = current_rss_mb()
        phases: dict[str, float] = {}
        marks = [("start", time.perf_counter())]

        def progress(step: str) -> None:
            now = time.perf_counter()
            phases[marks[-1][0]] = now - marks[-1][1]
            marks.append((step, now))
            print(f"   refresh: {step}", flush=True)

        cpu = cpu_seconds()
        with Stopwatch() as sw:
            report = refresh_clusters(progress=progress)
            db.session.commit()
        cpu = cpu_seconds() - cpu
        phases[marks[-1][0]] = time.perf_counter() - marks[-1][1]
        sizes = db.session.execute(select(OverlapCluster.size)).scalars().all()
        members = db.session.scalar(select(func.count(OverlapClusterMember.bid_id)))
        rows.append(
            Row.at_most(
                "full cluster refresh",
                round(sw.seconds, 1),
                "s",
                REFRESH_TARGET_S,
                note=f"{report.pairs:,} pairs, {report.clusters:,} clusters holding "
                f"{members:,} bids (largest {max(sizes, default=0)}), "
                f"{report.duplicates:,} near-duplicate pairs; "
                f"threshold {threshold}; CPU {cpu:.1f} s; "
                + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items() if k != "start"),
            )
        )
        rows.append(Row("clusters", report.clusters, "clusters"))
        rows.append(Row("RSS growth during refresh", round(current_rss_mb() - rss_before), "MiB"))

        with Stopwatch() as again_sw:
            again = refresh_clusters()
            db.session.commit()
        rows.append(
            Row.at_most(
                "clusters changed by an unchanged refresh",
                again.created + again.changed + again.removed,
                "clusters",
                0,
                note=f"second refresh took {again_sw.seconds:.1f} s",
            )
        )

        sample = db.session.scalars(
            select(OverlapClusterMember.bid_id).order_by(OverlapClusterMember.bid_id).limit(5)
        ).all()
        if sample:
            timings = []
            for bid_id in sample:
                started = time.perf_counter()
                refresh_neighbourhood(bid_id)
                db.session.commit()
                timings.append((time.perf_counter() - started) * 1000)
            rows.append(
                Row(
                    "neighbourhood refresh (one publish) p50",
                    round(percentiles(timings)["p50"]),
                    "ms",
                    note=f"max {max(timings):.0f} ms over {len(timings)} bids",
                )
            )

        pool_id, user_id, funders = _pool_of_largest_funders()
        db.session.remove()

    client = app.test_client()
    with client.session_transaction() as session:  # signed in as Flask-Login would sign in
        session["_user_id"], session["_fresh"] = str(user_id), True

    def timed(url: str, runs: int = 10) -> tuple[dict, str]:
        samples, body = [], ""
        for n in range(runs + 1):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} -> {response.status_code}")
            if n:  # the first call warms caches
                samples.append(elapsed)
            body = response.get_data(as_text=True)
        return percentiles(samples), body

    dashboard, page = timed(f"/pools/{pool_id}")
    shown = page.count('class="card"')
    member_names = ", ".join(f"{n} ({c:,} bids)" for n, c in funders)
    rows.append(
        Row.at_most(
            "pool dashboard p95",
            round(dashboard["p95"], 1),
            "ms",
            DASHBOARD_TARGET_MS,
            note=f"p50 {dashboard['p50']:.0f} ms; members {member_names}; "
            f"{shown} opportunities on the page",
        )
    )
    filtered, _ = timed(f"/pools/{pool_id}?status=submitted&place=California")
    rows.append(
        Row.at_most(
            "pool dashboard with filters p95", round(filtered["p95"], 1), "ms", DASHBOARD_TARGET_MS
        )
    )
    export, csv_text = timed(f"/pools/{pool_id}/export.csv?list=clusters", runs=3)
    rows.append(
        Row(
            "cluster CSV export p50",
            round(export["p50"]),
            "ms",
            note=f"{csv_text.count(chr(10)) - 1:,} rows",
        )
    )
    rows.append(
        Row(
            "RSS after pool benchmark",
            round(current_rss_mb()),
            "MiB",
            note=f"peak {peak_rss_mb():.0f} MiB",
        )
    )
    return rows
