"""attachments prune: stored PDF files that no attachment refers to any more."""

from __future__ import annotations

from datetime import timedelta

import click

from bids.attachments import prune_orphan_files


@click.group("attachments")
def attachments_group():
    """Stored attachment files under UPLOAD_DIR."""


@attachments_group.command("prune")
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Only files older than this many hours (uploads in flight are younger).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def prune_command(hours: float, dry_run: bool):
    """Delete files left by uploads whose transaction rolled back (content-addressed,
    unreferenced)."""
    paths = prune_orphan_files(timedelta(hours=hours), dry_run=dry_run)
    for path in paths:
        click.echo(str(path))
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {len(paths):,} unreferenced file{'s' if len(paths) != 1 else ''}.")


COMMANDS = [attachments_group]
