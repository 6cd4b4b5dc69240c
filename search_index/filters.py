"""What a search may ask for besides its words: sorts, facet fields, amount bands and filters,
and how far it may reach (`SearchLimits`, from the app's configuration).

`filters_from_args` reads them from a query string, for the search page and the API alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bids.models import BidStatus

SORTS = ("relevance", "newest", "amount")
FACET_FIELDS = ("funder", "status", "year", "theme", "location", "band")
# Amount bands in major units (any currency): (key, lower, upper or None).
BANDS = (
    ("0-10000", 0, 10_000),
    ("10000-50000", 10_000, 50_000),
    ("50000-100000", 50_000, 100_000),
    ("100000-500000", 100_000, 500_000),
    ("500000-1000000", 500_000, 1_000_000),
    ("1000000-", 1_000_000, None),
)


def band_label(key: str) -> str:
    for band_key, low, high in BANDS:
        if band_key == key:
            return (
                f"{low:,} and over"
                if high is None
                else (f"Under {high:,}" if low == 0 else f"{low:,} to {high:,}")
            )
    return key


@dataclass(frozen=True)
class SearchLimits:
    """How far one search reaches, on either backend; the values are settings (config.py)."""

    prefix_terms: int  # SEARCH_PREFIX_TERMS: words a trailing wildcard expands to, at most
    max_window: int  # SEARCH_MAX_RESULT_WINDOW: results that can be paged through

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SearchLimits:
        return cls(int(config["SEARCH_PREFIX_TERMS"]), int(config["SEARCH_MAX_RESULT_WINDOW"]))


def beyond_window(window: int | None, start: int, total: int) -> bool:
    """Whether a page starting at result `start` is refused: it lies past the result window and
    there are more results than the window holds (past the last result is an empty page)."""
    return window is not None and start >= window and total > window


@dataclass(frozen=True)
class PageRequest:
    """One page asked of either backend: the sort (unknown ones rank by relevance), the page
    and its size (at most 1,000), and the result window unless the caller pages past it."""

    sort: str
    page: int
    per_page: int
    window: int | None

    @classmethod
    def of(cls, sort: str, page: int, per_page: int, max_window: int, windowed: bool):
        return cls(
            sort if sort in SORTS else "relevance",
            max(1, int(page)),
            max(1, min(int(per_page), 1000)),
            max_window if windowed else None,
        )

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def size(self) -> int:
        """How many of this page may be shown (the window cuts the last page short)."""
        if self.window is None:
            return self.per_page
        return max(0, min(self.per_page, self.window - self.start))

    @property
    def past_window(self) -> bool:
        """The page starts at or past the window: refused, or empty, whatever the total."""
        return self.window is not None and self.start >= self.window

    def refused(self, total: int) -> bool:
        return beyond_window(self.window, self.start, total)


def window_message(window: int, total: int) -> str:
    return (
        f"Only the first {window:,} results can be paged through. Narrow the search, "
        f"or download all {total:,} results as CSV or JSON (the export)."
    )


@dataclass
class SearchFilters:
    """Facet filters (OR within a field, AND across fields) and amount bounds in minor units."""

    funder: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    year: list[int] = field(default_factory=list)
    theme: list[str] = field(default_factory=list)
    location: list[str] = field(default_factory=list)
    band: list[str] = field(default_factory=list)
    min_amount: int | None = None
    max_amount: int | None = None
    organisation_ids: set[int] | None = None  # from the API's `organisation` filter
    bid_ids: set[int] | None = None  # from the API's `identifier` filter

    def active(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in FACET_FIELDS if getattr(self, name)}


def _minor(raw: str, name: str) -> int:
    try:
        value = Decimal(raw.replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"`{name}` must be an amount, e.g. 25000 or 25000.50.") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"`{name}` must be an amount of zero or more.")
    return int((value * 100).to_integral_value())


def filters_from_args(args: Mapping[str, Any], *, strict: bool = False) -> SearchFilters:
    """Filters from query-string arguments (a MultiDict); bad values raise ValueError if strict."""
    getlist = (
        args.getlist if hasattr(args, "getlist") else (lambda k: [args[k]] if k in args else [])
    )
    filters = SearchFilters()
    for name in ("funder", "theme", "location"):
        setattr(filters, name, [v.strip() for v in getlist(name) if v and v.strip()])
    statuses = {s.value for s in BidStatus}
    for value in getlist("status"):
        value = value.strip().lower()
        if value in statuses:
            filters.status.append(value)
        elif value and strict:
            raise ValueError(f"`status` must be one of {', '.join(sorted(statuses))}.")
    for value in getlist("year"):
        if value.strip().isdigit() and 1000 <= int(value) <= 9998:
            filters.year.append(int(value))
        elif value.strip() and strict:
            raise ValueError("`year` must be a year such as 2022.")
    keys = {key for key, _, _ in BANDS}
    filters.band = [v for v in getlist("band") if v in keys]
    for name in ("min_amount", "max_amount"):
        raw = args.get(name)
        if raw not in (None, ""):
            try:
                setattr(filters, name, _minor(str(raw), name))
            except ValueError:
                if strict:
                    raise
    return filters
