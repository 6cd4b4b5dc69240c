"""Reading 360Giving files as grants in the standard's JSON shape, one at a time.

- JSON packages (`{"grants": [...]}`, `.json`, optionally gzipped) are streamed with ijson:
  memory holds one grant, whatever the file's size. The package's own fields (`license`,
  `publisher`, ...) are read by a first streaming pass, as they may follow the grants.
- Flattened CSV and XLSX with the standard's column titles (`Recipient Org:Name`,
  `Planned Dates:Duration (months)`, ...; see `schema_titles`) are read row by row and
  unflattened as flattentool does for a one-sheet file. Titles are matched ignoring case
  and spacing; a column no title matches is kept under its own name (as flattentool does).

Cells are text in a spreadsheet; the reader turns them into what the schema asks for and
records every change it makes in `notes` (one line per kind of change, with a count and an
example), so the import report can say what was normalised:

- numbers: "10,000" or "£10,000" -> 10000;
- dates: a spreadsheet date cell, or dd/mm/yyyy when the file shows the day first (some
  first part above 12, no second part above 12), -> ISO; a slash date the file gives no
  way to read (both parts 12 or below, and no other date in the file that settles it) is
  refused;
- `fromOpenCall`: "Y"/"N", "yes"/"true"... -> "Yes"/"No";
- durations: "12 months", "1 year" -> 12.

A cell that cannot be read is refused with its row, its column and the reason; a refused
row is a `Problem`, the other rows still come through.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import ijson

from bids.giving360.schema_titles import ARRAY_FIELDS, NUMBER_LEAVES, TITLES
from bids.imports.readers import ImportFileError

FORMATS = ("json", "csv", "xlsx")
DATE_LEAVES = frozenset({"awardDate", "startDate", "endDate", "transactionDate", "valueDate"})
DATETIME_LEAVES = frozenset({"dateModified"})
PACKAGE_FIELDS = (
    "license",
    "publisher",
    "title",
    "description",
    "identifier",
    "modified",
    "issued",
    "version",
    "extensions",
)

SLASH_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(months?|mths?|years?|yrs?)?$", re.IGNORECASE)
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
UNKNOWN = {"undefined", "unknown", "n/a", "not known"}
UNDECIDED = object()


class FileError(ImportFileError):
    """The file as a whole cannot be read as 360Giving."""


@dataclass
class Problem:
    """A grant the reader refuses: where it is and why."""

    number: int
    reason: str
    where: str = "grant"

    def __str__(self) -> str:
        return f"{self.where} {self.number}: {self.reason}"


@dataclass
class Notes:
    """What the reader normalised: kind -> count, and one example each."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, example)

    def lines(self) -> list[str]:
        return [
            f"Normalised {n} {kind} (e.g. {self.examples[kind]})."
            for kind, n in sorted(self.counts.items())
        ]


def guess_format(path: Path | str) -> str:
    name = Path(path).name.lower().removesuffix(".gz")
    for fmt in FORMATS:
        if name.endswith(f".{fmt}"):
            return fmt
    raise FileError(f"Cannot tell the format of {Path(path).name}: name it .json, .csv or .xlsx.")


def open_binary(path: Path | str) -> gzip.GzipFile | io.BufferedReader:
    path = Path(path)
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


class GrantReader:
    """`grants()` yields (position, grant) or (position, Problem); `package` and `notes`."""

    def __init__(self, path: Path | str, fmt: str | None = None):
        self.path = Path(path)
        self.fmt = fmt or guess_format(path)
        if self.fmt not in FORMATS:
            raise FileError(
                f"Unknown 360Giving form {self.fmt!r}: use one of {', '.join(FORMATS)}."
            )
        self.notes = Notes()
        self.package: dict[str, Any] = {}
        self.where = "grant"
        self.day_first: bool | None | object = UNDECIDED

    def grants(self) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
        if self.fmt == "json":
            self.package = read_package_fields(self.path)
            return self._json_grants()
        self.where = "line" if self.fmt == "csv" else "row"
        rows = self._csv_rows() if self.fmt == "csv" else self._xlsx_rows()
        return self._flat_grants(rows)

    # --- JSON ----------------------------------------------------------------------------

    def _json_grants(self) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
        with open_binary(self.path) as handle:
            try:
                for number, grant in enumerate(
                    ijson.items(handle, "grants.item", use_float=True), start=1
                ):
                    if not isinstance(grant, dict):
                        yield number, Problem(number, "a grant must be a JSON object")
                        continue
                    yield number, grant
            except ijson.JSONError as exc:
                raise FileError(f"Not valid JSON: {exc}") from None
            except UnicodeDecodeError:
                raise FileError("Not UTF-8 text.") from None

    # --- Flattened -----------------------------------------------------------------------

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        with io.TextIOWrapper(open_binary(self.path), encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text)
            try:
                start = 1
                for cells in reader:
                    # A quoted cell may span lines: a row is numbered by its first line.
                    yield start, cells
                    start = reader.line_num + 1
            except UnicodeDecodeError:
                raise FileError(f"Not UTF-8 text after line {reader.line_num}.") from None
            except csv.Error as exc:
                raise FileError(f"Unreadable CSV at line {reader.line_num}: {exc}") from None

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
            raise FileError(f"Not an XLSX workbook: {exc}") from None
        try:
            names = book.sheetnames
            sheet_name = next((n for n in names if n.lower() == "grants"), names[0])
            self.where = f'sheet "{sheet_name}" row'
            for number, cells in enumerate(book[sheet_name].iter_rows(values_only=True), start=1):
                yield number, list(cells)
        finally:
            book.close()

    def _flat_grants(
        self, rows: Iterator[tuple[int, list[Any]]]
    ) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
        header: list[tuple[tuple[str, ...], int] | None] | None = None
        for number, cells in rows:
            if header is None:
                header = self._header(cells)
                continue
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            if len(cells) > len(header) and any(c not in (None, "") for c in cells[len(header) :]):
                yield (
                    number,
                    Problem(number, "more cells than the header has columns", self.where),
                )
                continue
            try:
                yield number, self._unflatten(header, cells)
            except CellError as exc:
                yield number, Problem(number, str(exc), self.where)
        if header is None:
            raise FileError("The file is empty: a header row of 360Giving column titles is needed.")

    def _header(self, cells: list[Any]) -> list[tuple[tuple[str, ...], int] | None]:
        by_key = {_title_key(t): p for t, p in TITLES.items()}
        seen: Counter[tuple[str, ...]] = Counter()
        header: list[tuple[tuple[str, ...], int] | None] = []
        titles = []
        for cell in cells:
            title = str(cell).strip() if cell is not None else ""
            titles.append(title)
            if not title:
                header.append(None)
                continue
            path = by_key.get(_title_key(title), (title,))
            item = seen[path]
            seen[path] += 1
            header.append((path, item))
        self.titles = titles
        if not any(h and h[0] == ("title",) for h in header):
            raise FileError(
                "No 'Title' column: this does not look like a 360Giving file "
                "(the header row needs the standard's column titles)."
            )
        return header

    def _date_order(self) -> bool | None:
        """Whether the file writes slash dates day first (True), month first (False), or
        gives no evidence (None): a second pass over the file, made only when a date could
        be read either way."""
        rows = self._csv_rows() if self.fmt == "csv" else self._xlsx_rows()
        day_first = month_first = False
        date_columns: list[int] | None = None
        by_key = {_title_key(t): p for t, p in TITLES.items()}
        for _number, cells in rows:
            if date_columns is None:
                date_columns = [
                    i
                    for i, c in enumerate(cells)
                    if c is not None
                    and (by_key.get(_title_key(str(c))) or ("",))[-1]
                    in DATE_LEAVES | DATETIME_LEAVES
                ]
                continue
            for i in date_columns:
                match = SLASH_DATE_RE.match(str(cells[i]).strip()) if i < len(cells) else None
                if match:
                    day_first |= int(match[1]) > 12
                    month_first |= int(match[2]) > 12
        if day_first != month_first:
            return day_first
        return None

    def _unflatten(self, header, cells: list[Any]) -> dict[str, Any]:
        grant: dict[str, Any] = {}
        for column, cell in enumerate(cells):
            spec = header[column] if column < len(header) else None
            if spec is None or cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            path, item = spec
            title = self.titles[column]
            if isinstance(cell, str) and cell.strip().casefold() in UNKNOWN:
                self.notes.add(
                    f"cells saying the value is unknown, read as empty, in '{title}'",
                    repr(cell.strip()),
                )
                continue
            _put(grant, path, item, self._value(path, cell, title))
        return grant

    def _value(self, path: tuple[str, ...], cell: Any, title: str) -> Any:
        leaf = path[-1]
        if path in NUMBER_LEAVES:
            if leaf == "duration":
                return self._duration(cell, title)
            return self._number(cell, title)
        if leaf in DATE_LEAVES or leaf in DATETIME_LEAVES:
            return self._date(cell, title, with_time=leaf in DATETIME_LEAVES)
        if path == ("fromOpenCall",):
            return self._yes_no(cell, title)
        if path == ("relatedActivity",):
            return [part.strip() for part in str(cell).split(";") if part.strip()]
        if path == ("toIndividualsDetails", "grantPurpose"):
            return [part.strip() for part in str(cell).split(";") if part.strip()]
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)  # a spreadsheet's number in a text field: 1070468.0 is "1070468"
        if isinstance(cell, (datetime, date)):
            return cell.isoformat()
        return str(cell).strip()

    def _number(self, cell: Any, title: str) -> int | float:
        if isinstance(cell, bool):
            raise CellError(title, f"{cell!r} is not a number")
        if isinstance(cell, (int, float)):
            return cell
        text = str(cell).strip()
        cleaned = (
            text.replace(",", "").removeprefix("£").removeprefix("$").removeprefix("€").strip()
        )
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            raise CellError(title, f"{text!r} is not a number") from None
        if not number.is_finite():
            raise CellError(title, f"{text!r} is not a number")
        if cleaned != text:
            self.notes.add(
                f"numbers written with separators or a currency sign in '{title}'",
                f"{text!r} -> {cleaned}",
            )
        return int(number) if number == number.to_integral_value() else float(number)

    def _duration(self, cell: Any, title: str) -> int | float:
        if isinstance(cell, (int, float)) and not isinstance(cell, bool):
            return int(cell) if float(cell).is_integer() else cell
        text = str(cell).strip()
        match = DURATION_RE.match(text)
        if not match:
            raise CellError(title, f"{text!r} is not a number of months")
        number = Decimal(match[1])
        unit = (match[2] or "").lower()
        months = number * 12 if unit.startswith("y") else number
        months_value = int(months) if months == months.to_integral_value() else float(months)
        if unit:
            self.notes.add(
                f"durations written with a unit in '{title}'", f"{text!r} -> {months_value}"
            )
        return months_value

    def _date(self, cell: Any, title: str, *, with_time: bool) -> str:
        if isinstance(cell, datetime):  # a spreadsheet's own date cell: nothing to guess
            return _iso_utc(cell) if with_time else cell.date().isoformat()
        if isinstance(cell, date):
            return cell.isoformat()
        text = str(cell).strip()
        if ISO_RE.match(text):
            return text
        match = SLASH_DATE_RE.match(text)
        if not match:
            raise CellError(title, f"{text!r} is not a date (write YYYY-MM-DD)")
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        if first > 12 or second > 12 or first == second:
            day_first = first > 12 or first == second
        else:
            if self.day_first is UNDECIDED:
                self.day_first = self._date_order()
            if self.day_first is None:
                raise CellError(
                    title,
                    f"{text!r} could be day/month or month/day and no other "
                    "date in the file says which (write YYYY-MM-DD)",
                )
            day_first = bool(self.day_first)
        day, month = (first, second) if day_first else (second, first)
        hour, minute, second_ = (int(match[4] or 0), int(match[5] or 0), int(match[6] or 0))
        try:
            when = datetime(year, month, day, hour, minute, second_)
        except ValueError:
            raise CellError(title, f"{text!r} is not a real date") from None
        order = "dd/mm/yyyy" if day_first else "mm/dd/yyyy"
        if with_time:
            value = _iso_utc(when)
            self.notes.add(
                f"{order} dates in '{title}' (times read as UTC)", f"{text!r} -> {value}"
            )
            return value
        value = when.date().isoformat()
        self.notes.add(f"{order} dates in '{title}'", f"{text!r} -> {value}")
        return value

    def _yes_no(self, cell: Any, title: str) -> str:
        text = str(cell).strip()
        if text in ("Yes", "No"):
            return text
        lowered = text.lower()
        if lowered in YES or lowered in NO:
            value = "Yes" if lowered in YES else "No"
            self.notes.add(f"open-call answers in '{title}'", f"{text!r} -> {value!r}")
            return value
        raise CellError(title, f"{text!r} is not Yes or No")


class CellError(Exception):
    def __init__(self, title: str, reason: str):
        super().__init__(f"column '{title}': {reason}")


def read_package_fields(path: Path | str) -> dict[str, Any]:
    """The package's own fields (licence, publisher, ...) in one streaming pass."""
    out: dict[str, Any] = {}
    found_grants = False
    with open_binary(path) as handle:
        try:
            events = ijson.parse(handle, use_float=True)
            builder: ijson.ObjectBuilder | None = None
            key = None
            for prefix, event, value in events:
                if prefix == "" and event == "start_map":
                    continue
                if prefix == "" and event == "map_key":
                    key = value
                    continue
                if prefix == "" and event == "end_map":
                    break
                top = prefix.split(".", 1)[0]
                if top == "grants":
                    found_grants = True
                    continue
                if key not in PACKAGE_FIELDS:
                    continue
                if builder is None:
                    builder = ijson.ObjectBuilder()
                builder.event(event, value)
                if (
                    prefix == key
                    and event not in ("start_map", "start_array")
                    and (
                        event in ("end_map", "end_array")
                        or event in ("string", "number", "boolean", "null")
                    )
                ):
                    out[key] = builder.value
                    builder = None
        except ijson.JSONError as exc:
            raise FileError(f"Not valid JSON: {exc}") from None
        except UnicodeDecodeError:
            raise FileError("Not UTF-8 text.") from None
    if not found_grants:
        raise FileError('Not a 360Giving package: expected {"grants": [...]}.')
    return out


def _title_key(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip().casefold()


def _iso_utc(when: datetime) -> str:
    return when.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _put(grant: dict[str, Any], path: tuple[str, ...], item: int, value: Any) -> None:
    """Set `value` at `path`, filling arrays of objects: the `item`-th for a repeated title."""
    node: Any = grant
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if key in ARRAY_FIELDS and depth == 0:
            items = node.setdefault(key, [])
            while len(items) <= item:
                items.append({})
            node = items[item]
            continue
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
