"""Readers of the import formats: each yields (line number, record in the canonical field names).

Formats (guessed from the extension, `.gz` read directly):

- `jsonl` (`.jsonl`, `.ndjson`): one JSON object a line with the fields `identifier, title,
  summary, body, organisation {name, identifier}, funder {name, identifier}, programme,
  amount_requested, amount_awarded, currency, status, submitted_on, decided_on, themes[],
  locations[], licence, url`; `organisation` and `funder` may also be a bare name.
  Aliases, used only when the field itself is absent (they read the shared SBIR file as is):

  | alias                | becomes                                              |
  |----------------------|------------------------------------------------------|
  | `abstract`           | `body`                                               |
  | `org`                | `organisation` (a name)                              |
  | `funder` (a string)  | `funder` (a name)                                    |
  | `amount`             | `amount_awarded`                                     |
  | `year`               | `submitted_on` = 1 January of that year              |
  | `program`, `phase`   | `programme`, joined: "SBIR" + "Phase II"             |
  |                      | -> "SBIR Phase II"                                   |

  A record that uses any of the aliases and gives no `status` is an award: status `awarded`.
  Other keys (`funder_path`, `abstract_digits_stripped`, ...) are ignored.
- `csv` (`.csv`): a header row with the same fields, except `organisation_name`,
  `organisation_identifier`, `funder_name`, `funder_identifier`; `themes` and `locations`
  separated by `;`. An empty cell (like an absent or empty field in JSONL) is not given:
  a new bid takes the default, an existing bid keeps its value.
- `360giving` (`.json`): a 360Giving package `{"grants": [...]}`; each grant's `id` ->
  identifier, `title`, `description` -> body, `amountAppliedFor`, `amountAwarded`,
  `currency`, `awardDate` -> decided_on and submitted_on (1 January of that year),
  `recipientOrganization[0]` and `fundingOrganization[0]` `{name, id}`,
  `grantProgramme[0].title` -> programme, `beneficiaryLocation[].name` -> locations; status
  `awarded`. An organisation `id` that is not in org-id form (e.g. a 360G- local id) is dropped.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bids.errors import ValidationError
from bids.fields import clean_org_identifier
from bids.imports.report import RowProblem
from bids.models import BidStatus

FORMATS = ("jsonl", "csv", "360giving")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "360giving"}
SBIR_ALIASES = ("abstract", "org", "amount", "year", "program", "phase")
PARTY_CELLS = ("organisation_name", "organisation_identifier", "funder_name", "funder_identifier")

Record = tuple[int, dict[str, Any] | RowProblem]


class ImportFileError(Exception):
    """The file as a whole cannot be read (unknown format, not a 360Giving package)."""


def guess_format(path: Path | str) -> str:
    """The format a file's name says (`.gz` looked through)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in EXTENSIONS:
        raise ImportFileError(
            f"Cannot tell the format of {Path(path).name}: name it .jsonl, .csv or .json "
            f"(360Giving), optionally .gz, or pass --format."
        )
    return EXTENSIONS[suffix]


def open_text(path: Path | str) -> io.TextIOBase:
    """The file as text (UTF-8, a BOM tolerated), decompressed when gzipped."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="")


def read_records(path: Path | str, fmt: str) -> Iterator[Record]:
    """(line number, record in the canonical field names) or (line number, problem)."""
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "360giving":
        return read_360giving(path)
    raise ImportFileError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")


def open_binary(path: Path | str) -> gzip.GzipFile | io.BufferedReader:
    path = Path(path)
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def read_jsonl(path: Path | str) -> Iterator[Record]:
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError:
                yield number, RowProblem(number, "not UTF-8 text")
                continue
            except json.JSONDecodeError as exc:
                yield number, RowProblem(number, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(value, dict):
                yield number, RowProblem(number, "a line must be a JSON object")
                continue
            yield number, apply_aliases(value)


def apply_aliases(record: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical field names from the SBIR-style aliases (see the module docstring)."""
    out = dict(record)
    used = any(key in record for key in SBIR_ALIASES)
    if "body" not in out and "abstract" in out:
        out["body"] = out.pop("abstract")
    if "organisation" not in out and "org" in out:
        out["organisation"] = out.pop("org")
    if "amount_awarded" not in out and "amount" in out:
        out["amount_awarded"] = out.pop("amount")
    if "submitted_on" not in out and out.get("year") not in (None, ""):
        year = out.pop("year")
        out["submitted_on"] = f"{year}-01-01" if str(year).isdigit() else year
    if "programme" not in out and ("program" in out or "phase" in out):
        parts = [out.pop("program", None), out.pop("phase", None)]
        out["programme"] = " ".join(str(p).strip() for p in parts if p not in (None, ""))
    if used and not out.get("status"):
        out["status"] = BidStatus.AWARDED
    return out


def read_csv(path: Path | str) -> Iterator[Record]:
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        start = reader.line_num + 1
        try:
            for row in reader:
                number, start = start, reader.line_num + 1
                if None in row:
                    yield number, RowProblem(number, "more cells than the header has columns")
                    continue
                yield number, csv_record(row)
        except csv.Error as exc:
            yield reader.line_num, RowProblem(reader.line_num, f"unreadable CSV ({exc})")
        except UnicodeDecodeError:
            raise ImportFileError(
                f"Not UTF-8 text after line {reader.line_num}: save the CSV as UTF-8."
            ) from None


def csv_record(row: Mapping[str, str | None]) -> dict[str, Any]:
    cells = {
        (k or "").strip(): (v.strip() if isinstance(v, str) else v) or None for k, v in row.items()
    }
    out: dict[str, Any] = {}
    for key, value in cells.items():
        if key in PARTY_CELLS:
            continue
        if key in ("themes", "locations"):
            out[key] = [part for part in (value or "").split(";") if part.strip()]
        else:
            out[key] = value
    for party in ("organisation", "funder"):
        if f"{party}_name" in cells or f"{party}_identifier" in cells:
            out[party] = {
                "name": cells.get(f"{party}_name"),
                "identifier": cells.get(f"{party}_identifier"),
            }
    return out


def read_360giving(path: Path | str) -> Iterator[Record]:
    with open_text(path) as handle:
        try:
            package = json.load(handle)
        except UnicodeDecodeError:
            raise ImportFileError("Not UTF-8 text.") from None
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"Not a JSON file: {exc.msg} at line {exc.lineno}.") from None
    grants = package.get("grants") if isinstance(package, dict) else None
    if not isinstance(grants, list):
        raise ImportFileError('Not a 360Giving package: expected {"grants": [...]}.')
    for number, grant in enumerate(grants, start=1):
        if not isinstance(grant, dict):
            yield number, RowProblem(number, "a grant must be a JSON object", "grant")
            continue
        yield number, grant_record(grant)


def grant_record(grant: Mapping[str, Any]) -> dict[str, Any]:
    award_date = grant.get("awardDate")
    award_day = str(award_date)[:10] if award_date else None
    year = award_day[:4] if award_day and award_day[:4].isdigit() else None
    programme = _first(grant.get("grantProgramme"))
    locations = grant.get("beneficiaryLocation") or []
    return {
        "identifier": grant.get("id"),
        "title": grant.get("title"),
        "body": grant.get("description"),
        "amount_requested": grant.get("amountAppliedFor"),
        "amount_awarded": grant.get("amountAwarded"),
        "currency": grant.get("currency"),
        "decided_on": award_day,
        "submitted_on": f"{year}-01-01" if year else None,
        "organisation": _grant_party(grant.get("recipientOrganization")),
        "funder": _grant_party(grant.get("fundingOrganization")),
        "programme": programme.get("title") if isinstance(programme, dict) else None,
        "locations": [
            loc.get("name") for loc in locations if isinstance(loc, dict) and loc.get("name")
        ]
        if isinstance(locations, list)
        else [],
        "status": BidStatus.AWARDED,
    }


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _grant_party(value: Any) -> dict[str, Any] | None:
    party = _first(value)
    if not isinstance(party, dict):
        return None
    try:
        identifier = clean_org_identifier(party.get("id"))
    except ValidationError:
        identifier = None  # 360G- local ids are not org-ids; the name still finds the organisation
    return {"name": party.get("name"), "identifier": identifier}
