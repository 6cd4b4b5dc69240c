"""seed-demo: the demo content, idempotently, made searchable and matchable, then the overlap
clusters it makes."""

from __future__ import annotations

import click

from bids.database import db
from bids.demo import has_bids, seed_demo
from search_index import outbox
from search_index.clusters import refresh_clusters


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no bids.")
def seed_demo_command(if_empty: bool):
    """Load the demo organisations, people and bids (safe to run again)."""
    seeding = not (if_empty and has_bids())
    report = seed_demo(only_if_empty=if_empty)
    click.echo(report)
    if seeding:
        # Whatever INDEX_MODE says: the clusters need the similarity store up to date first.
        outbox.sync()
        clusters = refresh_clusters()
        db.session.commit()
        click.echo(
            f"{clusters.clusters} overlap clusters, {clusters.duplicates} near-duplicate pairs."
        )


COMMANDS = [seed_demo_command]
