"""Bulk import of bids from JSONL, CSV and 360Giving JSON (`flask --app portal import-bids`).

Rules: every row goes through `bids.fields.clean_bid_fields`, the one set of rules. Required:
title, body or summary, organisation name, funder name. A bad row is reported with its line
number (the grant's position for 360Giving) and reason and skipped; the rest go in. Imported
bids are published. Without a status a row is `submitted`. Re-importing is idempotent by
identifier: an existing bid gets the fields the row gives (status included: an import records
history, so status transitions are not checked), and a new revision only when something
changed; a bid's moderation (hidden) is kept. A row without identifier is always new and gets
the generated `360G-openbids-<id>`; identifiers with that prefix only ever update.

Modules: `readers` (the formats, documented there), `rows` (one record checked and turned
into columns), `organisations` (the parties a run names), `writer` (batches), `run` (the whole
run and its `IndexHooks`), `report`.
"""

from bids.imports.readers import FORMATS, ImportFileError, guess_format
from bids.imports.report import ImportReport, RowProblem
from bids.imports.run import IndexHooks, import_bids

__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportReport",
    "IndexHooks",
    "RowProblem",
    "guess_format",
    "import_bids",
]
