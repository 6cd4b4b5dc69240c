"""`export dump DIR`: the whole public corpus as dated, gzipped files with a datapackage.json.

Cron, nightly at 03:00: `0 3 * * * cd /srv/openbids && .venv/bin/flask --app portal export dump
/srv/openbids/dumps --base-url https://openbids.example.org`
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from bids.dump import write_dump
from bids.giving360.export import DEFAULT_PREFIX


@click.group("export")
def export_group():
    """Exports of the public corpus."""


@export_group.command("dump")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--base-url",
    default="http://localhost",
    help="The site's address, for permalinks (e.g. https://openbids.example.org).",
)
def dump_command(directory: Path, base_url: str):
    """Write DIRECTORY/<date>/ with JSONL, CSV, 360Giving JSON and CSV, and datapackage.json.
    Without DIRECTORY: DUMP_DIR (default instance/dumps), the folder /data serves."""
    from flask import url_for

    app = current_app._get_current_object()
    config = app.config
    directory = directory or Path(config.get("DUMP_DIR") or Path(config["INSTANCE_DIR"]) / "dumps")
    publisher = {
        "name": config.get("OPENBIDS_PUBLISHER_NAME", "Open Bids"),
        "website": base_url.rstrip("/") + "/",
    }
    with app.test_request_context("/", base_url=base_url):
        out = write_dump(
            directory,
            lambda bid: url_for("bids.show", bid_id=bid.id, _external=True),
            prefix=config.get("OPENBIDS_360G_PREFIX") or DEFAULT_PREFIX,
            publisher=publisher,
        )
    click.echo(f"Wrote {out}")


COMMANDS = [export_group]
