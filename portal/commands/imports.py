"""import-bids: bulk import from JSONL, CSV or 360Giving JSON (see `bids.imports`)."""

from __future__ import annotations

from pathlib import Path

import click

from bids import imports
from bids.giving360.load import import_360giving
from bids.imports import FORMATS, ImportFileError, ImportReport, IndexHooks
from bids.models import OrgKind
from search_index import outbox
from search_index.catchup import CatchUpReport, bring_up_to_date

MAX_PROBLEMS_SHOWN = 50


def index_hooks(
    *, wait: bool = True, progress: bool = False, finished: list[CatchUpReport] | None = None
) -> IndexHooks:
    """The derived stores' part in an import: outbox rows per batch, brought up to date at the
    end (unless `wait` is false: then a running worker applies them)."""

    def catch_up(changed: int) -> None:
        if wait:
            report = bring_up_to_date(changed, progress=progress)
            if finished is not None:
                finished.append(report)

    return IndexHooks(
        record_changes=outbox.record_bid_changes, defer=outbox.deferred, after_import=catch_up
    )


GIVING360_HEADERS = ("Recipient Org:Name", "Funding Org:Name", "Funding Org:Identifier")


def giving360_format(path: Path | str, fmt: str | None) -> str | None:
    """'json', 'csv' or 'xlsx' when FILE is 360Giving (by --format, extension or the standard's
    column titles in a CSV's header), else None for Open Bids' own formats."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(".xlsx"):
        return "xlsx"
    if fmt == "360giving":
        return "csv" if name.endswith(".csv") else "json"
    if fmt is None and name.endswith(".json"):
        return "json"
    if fmt in (None, "csv") and name.endswith(".csv"):
        with imports.readers.open_binary(path) as fh:
            header = fh.readline(65536).decode("utf-8", errors="replace")
        if any(title in header for title in GIVING360_HEADERS):
            return "csv"
    return None


def import_bids(
    path: Path | str,
    *,
    wait: bool = True,
    fmt: str | None = None,
    licence: str | None = None,
    dry_run: bool = False,
    **options,
) -> ImportReport:
    """Import FILE (Open Bids' JSONL/CSV or 360Giving JSON/CSV/XLSX), returning once every
    imported bid is searchable and matchable (with `wait=False`, once the rows are committed)."""
    hooks = index_hooks(
        wait=wait, progress=bool(options.get("progress")), finished=options.pop("finished", None)
    )
    giving = giving360_format(path, fmt)
    if giving is not None:
        options.pop("progress", None)
        return import_360giving(
            path, fmt=giving, licence=licence, dry_run=dry_run, hooks=hooks, **options
        )
    if dry_run or licence:
        raise ImportFileError("--dry-run and --licence are for 360Giving files.")
    return imports.import_bids(path, fmt=fmt, hooks=hooks, **options)


@click.command("import-bids")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="File format; guessed from the extension (.jsonl, .csv, .json; .gz accepted).",
)
@click.option(
    "--organisation-kind",
    type=click.Choice([k.value for k in OrgKind]),
    default=OrgKind.APPLICANT.value,
    show_default=True,
    help="Kind given to applicant organisations the import creates.",
)
@click.option("--limit", type=int, help="Stop after this many rows.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return once the rows are committed; the worker makes them searchable.",
)
@click.option(
    "--licence",
    help="360Giving: the licence of grants the file states none for "
    "(e.g. CC-BY-4.0); Open Bids never assumes one.",
)
@click.option("--dry-run", is_flag=True, help="360Giving: validate and report, write nothing.")
def import_bids_command(
    file: Path,
    fmt: str | None,
    organisation_kind: str,
    limit: int | None,
    no_wait: bool,
    licence: str | None,
    dry_run: bool,
):
    """Import bids from FILE; imported bids are published. Safe to run again (by identifier).

    Returns when every imported bid is searchable and matchable (applied from the outbox, or
    rebuilt from the database when most of the corpus is new), unless --no-wait is given.
    """
    finished: list[CatchUpReport] = []
    try:
        report = import_bids(
            file,
            fmt=fmt,
            organisation_kind=organisation_kind,
            limit=limit,
            progress=True,
            wait=not no_wait,
            finished=finished,
            licence=licence,
            dry_run=dry_run,
        )
    except ImportFileError as exc:  # a 360Giving file's FileError is one too
        raise click.ClickException(str(exc)) from None
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"skipped {problem}", err=True)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        click.echo(
            f"... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more skipped rows", err=True
        )
    click.echo(report.summary())
    for done in finished:
        click.echo(done.summary())
    if no_wait and outbox.pending_count():
        click.echo(
            f"{outbox.pending_count('search')} bids wait for the worker "
            "(`flask --app portal worker`); `index status` shows its progress."
        )


COMMANDS = [import_bids_command]
