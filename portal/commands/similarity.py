"""similarity rebuild / status: the overlap matcher's stored vectors (derived from the database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from sqlalchemy import func, select
from tqdm import tqdm

from bids.database import db
from bids.models import Bid
from search_index import similarity


@click.group("similarity")
def similarity_group():
    """The overlapping-bids matcher's store under SIMILARITY_DIR."""


@similarity_group.command("rebuild")
def rebuild_command():
    """Refit the vocabulary and rebuild every bid's vectors (run after large imports, or
    nightly)."""
    total = db.session.scalar(select(func.count(Bid.id))) or 0
    started = time.perf_counter()
    with tqdm(total=total, desc="reading bids", unit="bid") as bar:
        count = similarity.rebuild(progress=bar.update)
    click.echo(
        f"Similarity store rebuilt: {count:,} bids in {time.perf_counter() - started:.1f} s."
    )


@similarity_group.command("status")
def status_command():
    """How many bids the store holds and how many changes wait in its delta."""
    snap = similarity.get_store().snapshot()
    if snap is None:
        click.echo("No similarity store yet: run `flask --app portal similarity rebuild`.")
        return
    rows, alive = snap.all_rows()
    manifest = similarity.get_store().manifest() or {}
    fitted = datetime.fromtimestamp(manifest.get("built_at", 0), UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(
        f"{int(alive.sum()):,} bids, {snap.n_features:,} terms fitted {fitted}, "
        f"{snap.unfitted_rows():,} rows in the delta since the last refit."
    )
    if snap.unfitted_rows():
        click.echo(
            "Words first used by bids in the delta are not matched until the next "
            "`flask --app portal similarity rebuild` (run it nightly)."
        )


COMMANDS = [similarity_group]
