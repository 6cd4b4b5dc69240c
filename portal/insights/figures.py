"""The figures of a request's search (query and filters as on /search), and their charts.

Shared by the insights page, its CSV downloads and `GET /api/v1/insights`. The whole field
(nothing narrows the search) is read from its per-generation snapshot, figures and rendered
charts alike (`search_index.snapshots`); a search's figures are cached briefly in this
process. Bad filter values raise `BadRequest` (400), never a 500.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

from flask import current_app

from bids.insights import MIN_DECIDED, field_figures
from portal.search_args import SEARCH_ARGS, request_search
from search_index.filters import SearchFilters as Filters
from search_index.selection import matching_bids, narrows
from search_index.snapshots import generation, stored, whole_field_figures

CACHE_SIZE = 64
CACHE_SECONDS = 60.0

_lock = threading.Lock()
_cache: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()
_charts: dict[tuple, tuple[dict, dict]] = {}


def min_decided() -> int:
    return int(current_app.config.get("INSIGHTS_MIN_DECIDED", MIN_DECIDED))


def charts_of(figures: dict, names: list[str] | None = None) -> dict:
    """The rendered charts of these figures (pygal takes tens of ms a chart: kept with them)."""
    from portal.insights.charts import chart_tables

    key = (id(figures), tuple(names) if names else None)
    with _lock:
        charts = _charts.get(key)
    if charts is None or charts[0] is not figures:
        charts = (figures, chart_tables(figures, names))
        with _lock:
            _charts[key] = charts
            while len(_charts) > CACHE_SIZE:
                _charts.pop(next(iter(_charts)))
    return charts[1]


def charts_for(args) -> tuple[str, Filters, dict[str, Any], dict]:
    """The figures and their charts; the whole field's charts are stored per generation."""
    from portal.insights.charts import Chart, chart_tables

    q, filters, figures, now = _figures(args)
    if now is None:
        return q, filters, figures, charts_of(figures)
    charts = stored(
        "field-charts",
        ["field", min_decided(), now],
        lambda: chart_tables(figures),
        encode=lambda charts: {name: asdict(chart) for name, chart in charts.items()},
        decode=lambda data: {name: Chart(**chart) for name, chart in data.items()},
    )
    return q, filters, figures, charts


def figures_for(args) -> tuple[str, Filters, dict[str, Any]]:
    q, filters, figures, _ = _figures(args)
    return q, filters, figures


def _figures(args) -> tuple[str, Filters, dict[str, Any], list | None]:
    """The figures, and the generation when they are the whole field's snapshot."""
    q, filters = request_search(args)
    now = generation()
    if not narrows(q, filters):
        return q, filters, whole_field_figures(min_decided(), now=now), now
    key = (
        tuple((name, tuple(args.getlist(name))) for name in SEARCH_ARGS),
        repr(now),
        min_decided(),
        current_app.config["SEARCH_INDEX_DIR"],
    )
    started = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and started - hit[0] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return q, filters, hit[1], None
    ids, tags = matching_bids(q, filters)
    figures = field_figures(ids, min_decided=min_decided(), tags=tags)
    with _lock:
        _cache[key] = (started, figures)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return q, filters, figures, None
