"""`reindex` and `index sync|check`: keep the search index in line with the database."""

from __future__ import annotations

import sys

import click
from sqlalchemy import func, select
from tqdm import tqdm

from bids.database import db
from bids.models import Bid
from search_index import get_index, outbox, rebuild_search_index


@click.command("reindex")
def reindex_command():
    """Rebuild the search index from the database aside, then swap it in (search stays up)."""
    total = db.session.scalar(select(func.count(Bid.id))) or 0
    with tqdm(total=total, unit="bid", desc="Indexing", file=sys.stderr, disable=total == 0) as bar:
        count = rebuild_search_index(db.session, progress=bar.update)
    click.echo(f"Indexed {count} bids.")


@click.group("index")
def index_group():
    """Search index maintenance."""


@index_group.command("sync")
@click.option(
    "--target",
    type=click.Choice(outbox.TARGETS),
    default=None,
    help="Drain one outbox target only (default: every registered one).",
)
def sync_command(target: str | None):
    """Apply every pending outbox row (after a crash or a locked index)."""
    try:
        applied = outbox.sync(target)
    except Exception as exc:  # noqa: BLE001 - report, keep the rows, exit non-zero
        raise click.ClickException(
            f"Sync stopped, the remaining rows stay queued: {exc!r}"
        ) from None
    for name, count in applied.items():
        click.echo(f"{name}: applied {count} outbox rows")


@index_group.command("check")
@click.option("--show", default=10, help="How many ids to list per kind of drift.")
def check_command(show: int):
    """Report documents missing from, stale in or extra to the index; exit 1 on any drift."""
    drift = get_index().check(db.session)
    for kind in ("missing", "stale", "extra"):
        ids = getattr(drift, kind)
        sample = ", ".join(str(i) for i in ids[:show]) + (" ..." if len(ids) > show else "")
        click.echo(f"{kind}: {len(ids)}" + (f" ({sample})" if ids else ""))
    pending = outbox.pending_count("search")
    click.echo(f"pending outbox rows (search): {pending}")
    if drift.total:
        click.echo(
            "The index has drifted: run `flask --app portal index sync` (or `reindex`).", err=True
        )
        sys.exit(1)
    click.echo("The index matches the database.")


@index_group.command("status")
def status_command():
    """Per target: pending, failing, dead and leased rows, the oldest pending age, last error."""
    from search_index.worker import job_runs

    for row in outbox.status():
        click.echo(
            f"{row.target}: {row.pending} pending, {row.failing} failing, {row.dead} dead, "
            f"{row.leased} being applied; oldest pending {row.oldest_pending_s:.1f} s"
        )
        if row.last_error:
            click.echo(f"  last error: {row.last_error}")
    for run in job_runs():
        state = "running" if run.finished_at is None else ("ok" if run.ok else "failed")
        started = run.started_at.isoformat(timespec="seconds") + "Z" if run.started_at else "never"
        click.echo(
            f"job {run.name}: last started {started}, {state}"
            + (f" ({run.last_error})" if run.last_error else "")
        )


@index_group.command("requeue-dead")
@click.option("--target", type=click.Choice(outbox.TARGETS), default=None)
def requeue_dead_command(target: str | None):
    """Retry rows set aside after repeated failures (once their cause is fixed)."""
    click.echo(f"Requeued {outbox.requeue_dead(target)} dead outbox rows.")


COMMANDS = (reindex_command, index_group)
