"""import-bids: bulk import from JSONL, CSV or 360Giving JSON (see `bids.imports`)."""

from __future__ import annotations

from pathlib import Path

import click
from bids import imports
from bids.imports import FORMATS, ImportFileError, ImportReport, IndexHooks
from bids.models import OrgKind
from search_index import outbox
from search_index.catchup import CatchUpReport, bring_up_to_date

MAX_PROBLEMS_SHOWN = 50


def index_hooks(*, wait: bool = True, progress: bool = False,
                finished: list[CatchUpReport] | None = None) -> IndexHooks:
    """The derived stores' part in an import: outbox rows per batch, brought up to date at the
    end (unless `wait` is false: then a running worker applies them)."""

    def catch_up(changed: int) -> None:
        if wait:
            report = bring_up_to_date(changed, progress=progress)
            if finished is not None:
                finished.append(report)

    return IndexHooks(record_changes=outbox.record_bid_changes, defer=outbox.deferred,
                      after_import=catch_up)


def import_bids(path: Path | str, *, wait: bool = True, **options) -> ImportReport:
    """`bids.imports.import_bids`, returning once every imported bid is searchable and
    matchable (with `wait=False`, once the rows are committed)."""
    return imports.import_bids(
        path, hooks=index_hooks(wait=wait, progress=bool(options.get("progress"))), **options)


@click.command("import-bids")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="File format; guessed from the extension (.jsonl, .csv, .json; .gz accepted).")
@click.option("--organisation-kind", type=click.Choice([k.value for k in OrgKind]),
              default=OrgKind.APPLICANT.value, show_default=True,
              help="Kind given to applicant organisations the import creates.")
@click.option("--limit", type=int, help="Stop after this many rows.")
@click.option("--no-wait", is_flag=True,
              help="Return once the rows are committed; the worker makes them searchable.")
def import_bids_command(file: Path, fmt: str | None, organisation_kind: str, limit: int | None,
                        no_wait: bool):
    """Import bids from FILE; imported bids are published. Safe to run again (by identifier).

    Returns when every imported bid is searchable and matchable (applied from the outbox, or
    rebuilt from the database when most of the corpus is new), unless --no-wait is given.
    """
    finished: list[CatchUpReport] = []
    try:
        report = imports.import_bids(
            file, fmt=fmt, organisation_kind=organisation_kind, limit=limit, progress=True,
            hooks=index_hooks(wait=not no_wait, progress=True, finished=finished))
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"skipped {problem}", err=True)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more skipped rows",
                   err=True)
    click.echo(report.summary())
    for done in finished:
        click.echo(done.summary())
    if no_wait and outbox.pending_count():
        click.echo(f"{outbox.pending_count('search')} bids wait for the worker "
                   "(`flask --app portal worker`); `index status` shows its progress.")


COMMANDS = [import_bids_command]
