"""seed-demo: the demo content, idempotently."""

from __future__ import annotations

import click

from bids.demo import seed_demo


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no bids.")
def seed_demo_command(if_empty: bool):
    """Load the demo organisations, people and bids (safe to run again)."""
    report = seed_demo(only_if_empty=if_empty)
    click.echo(report)


COMMANDS = [seed_demo_command]
