"""The whole public corpus as files: dated JSONL, CSV and a 360Giving package, gzipped, with
a Frictionless `datapackage.json` (fields, licences, row counts, sizes, sha256).

Plain domain code: the caller passes `permalink(bid)` (the portal builds URLs). Bids are read
in id order a chunk at a time, so memory stays flat over the corpus.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bids.database import db
from bids.fields import LICENCE_URLS, LICENCES
from bids.giving360.export import csv_chunks, grants_of, package_chunks
from bids.models import Bid, BidLink, Visibility
from bids.serialize import bid_item, iso_date, iso_datetime

CHUNK = 500
# The JSONL and CSV columns, declared once: (name, Frictionless type, description).
FIELDS = (
    ("identifier", "string", "The bid's identifier (360Giving `id` for imported grants)."),
    ("title", "string", "Title."),
    ("summary", "string", "Summary."),
    ("body", "string", "Full text (Markdown; a 360Giving `description` as published)."),
    ("organisation", "string", "Applicant organisation's name."),
    ("organisation_identifier", "string", "Its org-id, when known."),
    ("funder", "string", "Funder's name."),
    ("funder_identifier", "string", "Its org-id, when known."),
    ("programme", "string", "Funding programme."),
    ("amount_requested", "number", "Amount applied for, in `currency`."),
    ("amount_awarded", "number", "Amount awarded, in `currency`."),
    ("currency", "string", "ISO 4217 code."),
    ("status", "string", "draft, submitted, awarded, declined or withdrawn."),
    ("submitted_on", "date", "Date submitted."),
    ("decided_on", "date", "Date decided (360Giving `awardDate`)."),
    ("themes", "string", "Themes, separated by '; '."),
    ("locations", "string", "Locations, separated by '; '."),
    ("licence", "string", "The record's licence."),
    ("permalink", "string", "The bid's page."),
    ("updated_at", "datetime", "Last change, UTC."),
)


def _public_bids() -> Iterator[Bid]:
    last = 0
    while True:
        chunk = list(
            db.session.scalars(
                select(Bid)
                .where(
                    Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None), Bid.id > last
                )
                .options(
                    selectinload(Bid.organisation),
                    selectinload(Bid.funder),
                    selectinload(Bid.links).selectinload(BidLink.to_bid),
                )
                .order_by(Bid.id)
                .limit(CHUNK)
            )
        )
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].id
        db.session.expunge_all()


def _row(bid: Bid, permalink: str | None) -> dict[str, Any]:
    item = bid_item(bid)
    return {
        "identifier": bid.identifier,
        "title": bid.title,
        "summary": bid.summary,
        "body": bid.body,
        "organisation": bid.organisation.name,
        "organisation_identifier": bid.organisation.org_identifier,
        "funder": bid.funder.name if bid.funder else None,
        "funder_identifier": bid.funder.org_identifier if bid.funder else None,
        "programme": bid.programme,
        "amount_requested": item["amount_requested"],
        "amount_awarded": item["amount_awarded"],
        "currency": bid.currency,
        "status": bid.status,
        "submitted_on": iso_date(bid.submitted_on),
        "decided_on": iso_date(bid.decided_on),
        "themes": list(bid.themes or []),
        "locations": list(bid.locations or []),
        "licence": bid.licence,
        "permalink": permalink,
        "updated_at": iso_datetime(bid.updated_at),
    }


class _Counting:
    """A gzip file that counts rows and licences as they are written."""

    def __init__(self, path: Path):
        self.path = path
        self.file = gzip.open(path, "wt", encoding="utf-8", newline="")  # noqa: SIM115  (closed by close())
        self.rows = 0
        self.licences: Counter[str] = Counter()

    def close(self) -> None:
        self.file.close()


def _describe(
    path: Path,
    name: str,
    fmt: str,
    mediatype: str,
    rows: int,
    licences: Counter[str],
    schema: dict | None = None,
) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    resource: dict[str, Any] = {
        "name": name,
        "path": path.name,
        "format": fmt,
        "mediatype": mediatype,
        "compression": "gz",
        "encoding": "utf-8",
        "bytes": path.stat().st_size,
        "hash": f"sha256:{digest}",
        "rowCount": rows,
        "licenses": [
            {
                "name": key,
                "title": LICENCES.get(key, key),
                **({"path": LICENCE_URLS[key]} if key in LICENCE_URLS else {}),
            }
            for key in sorted(licences)
        ],
    }
    if schema:
        resource["schema"] = schema
    return resource


def write_dump(
    directory: Path,
    permalink: Callable[[Bid], str | None],
    *,
    prefix: str,
    publisher: dict[str, Any],
    today: str | None = None,
) -> Path:
    """Write `<directory>/<date>/` with the files and their `datapackage.json`; its path."""
    today = today or datetime.now(UTC).date().isoformat()
    out = Path(directory) / today
    out.mkdir(parents=True, exist_ok=True)
    jsonl, table = _Counting(out / "bids.jsonl.gz"), _Counting(out / "bids.csv.gz")
    writer = csv.writer(table.file)
    writer.writerow([name for name, _t, _d in FIELDS])
    for bid in _public_bids():
        row = _row(bid, permalink(bid))
        jsonl.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        writer.writerow(
            [
                "; ".join(v) if isinstance(v, list) else ("" if v is None else v)
                for v in row.values()
            ]
        )
        for counter in (jsonl, table):
            counter.rows += 1
            counter.licences[bid.licence] += 1
    jsonl.close()
    table.close()

    giving = _Counting(out / "360giving.json.gz")
    giving_csv = _Counting(out / "360giving.csv.gz")

    def counted(stream):
        for grant in stream:
            giving.rows += 1
            giving.licences[grant["openBids"]["licence"]] += 1
            yield grant

    for chunk in package_chunks(
        counted(grants_of(_public_bids(), prefix=prefix, permalink=permalink)), publisher=publisher
    ):
        giving.file.write(chunk)
    giving.close()
    for chunk in csv_chunks(grants_of(_public_bids(), prefix=prefix, permalink=permalink)):
        giving_csv.file.write(chunk)
    giving_csv.close()
    giving_csv.rows, giving_csv.licences = giving.rows, giving.licences

    schema = {"fields": [{"name": n, "type": t, "description": d} for n, t, d in FIELDS]}
    package = {
        "profile": "data-package",
        "name": f"open-bids-{today}",
        "title": f"Open Bids: every public bid, {today}",
        "created": iso_datetime(datetime.now(UTC)),
        "licenses": [
            {"name": key, "title": LICENCES.get(key, key)} for key in sorted(jsonl.licences)
        ],
        "resources": [
            _describe(
                jsonl.path,
                "bids-jsonl",
                "jsonl",
                "application/x-ndjson",
                jsonl.rows,
                jsonl.licences,
                schema,
            ),
            _describe(
                table.path, "bids-csv", "csv", "text/csv", table.rows, table.licences, schema
            ),
            _describe(
                giving.path,
                "grants-360giving",
                "json",
                "application/json",
                giving.rows,
                giving.licences,
            ),
            _describe(
                giving_csv.path,
                "grants-360giving-csv",
                "csv",
                "text/csv",
                giving_csv.rows,
                giving_csv.licences,
            ),
        ],
    }
    (out / "datapackage.json").write_text(
        json.dumps(package, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return out
