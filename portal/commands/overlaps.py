"""overlaps refresh: recompute every overlap cluster over the whole corpus."""

from __future__ import annotations

import click
from tqdm import tqdm

from bids.database import db
from search_index.clusters import refresh_clusters

STEPS = ("pairs", "bids", "clusters", "save")


@click.group("overlaps")
def overlaps_group():
    """Overlap clusters for the funders' pools."""


@overlaps_group.command("refresh")
def refresh_command():
    """Rebuild the clusters and near-duplicate pairs (unchanged clusters keep their ids)."""
    with tqdm(total=len(STEPS), desc="overlaps", unit="step") as bar:

        def progress(step: str) -> None:
            if bar.n or step != STEPS[0]:
                bar.update(1)
            bar.set_postfix_str(step)

        report = refresh_clusters(progress=progress)
        db.session.commit()
        bar.update(bar.total - bar.n)
    click.echo(
        f"{report.clusters} clusters ({report.created} new, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged) from {report.pairs} pairs; "
        f"{report.duplicates} near-duplicate pairs; {report.seconds:.1f} s."
    )


COMMANDS = [overlaps_group]
