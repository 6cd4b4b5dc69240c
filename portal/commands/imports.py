"""import-bids: bulk import from JSONL, CSV or 360Giving JSON (see `bids.imports`)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from bids import imports
from bids.imports import FORMATS, ImportFileError, ImportReport, IndexHooks
from bids.models import OrgKind
from search_index import outbox

MAX_PROBLEMS_SHOWN = 50
SYNC_LIMIT_KEY = "SEARCH_SYNC_AFTER_COMMIT"  # imports this small are indexed when they finish


def index_hooks() -> IndexHooks:
    """The search index's part in an import: outbox rows per batch, applied at the end."""
    return IndexHooks(record_changes=outbox.record_bid_changes, defer=outbox.deferred,
                      after_import=_sync_small_import)


def _sync_small_import(changed: int) -> None:
    # A small import is searchable at once; a large one is synced or rebuilt. The sync is
    # bounded like the one after any commit: a backlog left by an earlier large import
    # (84k rows for the SBIR corpus) must not be applied row by row here.
    limit = current_app.config.get(SYNC_LIMIT_KEY, 2000)
    if 0 < changed <= limit:
        outbox.sync(limit=limit)


def import_bids(path: Path | str, **options) -> ImportReport:
    """`bids.imports.import_bids` with the search index kept up to date."""
    return imports.import_bids(path, hooks=index_hooks(), **options)


@click.command("import-bids")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="File format; guessed from the extension (.jsonl, .csv, .json; .gz accepted).")
@click.option("--organisation-kind", type=click.Choice([k.value for k in OrgKind]),
              default=OrgKind.APPLICANT.value, show_default=True,
              help="Kind given to applicant organisations the import creates.")
@click.option("--limit", type=int, help="Stop after this many rows.")
def import_bids_command(file: Path, fmt: str | None, organisation_kind: str, limit: int | None):
    """Import bids from FILE; imported bids are published. Safe to run again (by identifier)."""
    try:
        report = import_bids(file, fmt=fmt, organisation_kind=organisation_kind, limit=limit,
                             progress=True)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"skipped {problem}", err=True)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more skipped rows",
                   err=True)
    click.echo(report.summary())
    pending = outbox.pending_count("search")
    if pending:
        click.echo(f"{pending} bids wait for the search index: `flask --app portal index sync` "
                   "applies them (after a large import `flask --app portal reindex` is faster).")


COMMANDS = [import_bids_command]
