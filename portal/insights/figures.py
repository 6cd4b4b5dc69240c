"""The figures of a request's search (query and filters as on /search), cached briefly.

Shared by the insights page, its CSV downloads and `GET /api/v1/insights`. Bad filter
values raise `BadRequest` (400), never a 500.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from bids.database import db
from bids.insights import MIN_DECIDED, field_figures
from bids.models import Bid, Organisation
from portal.search_args import SEARCH_ARGS, request_search
from search_index.filters import SearchFilters as Filters
from search_index.selection import matching_bids, narrows

CACHE_SIZE = 64
CACHE_SECONDS = 60.0

_lock = threading.Lock()
_cache: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()
_charts: dict[int, tuple[dict, dict]] = {}


def data_watermark() -> tuple:
    """Changes whenever a bid or organisation is added, changed or removed."""
    bids = db.session.execute(
        select(func.count(Bid.id), func.max(Bid.id), func.max(Bid.updated_at))
    ).one()
    orgs = db.session.execute(select(func.count(Organisation.id), func.max(Organisation.id))).one()
    return (*bids, *orgs)


def charts_for(args) -> tuple[str, Filters, dict[str, Any], dict]:
    """The figures and their rendered charts (pygal takes tens of ms a chart: kept with them)."""
    from portal.insights.charts import chart_tables

    q, filters, figures = figures_for(args)
    with _lock:
        charts = _charts.get(id(figures))
    if charts is None or charts[0] is not figures:
        charts = (figures, chart_tables(figures))
        with _lock:
            _charts[id(figures)] = charts
            while len(_charts) > CACHE_SIZE:
                _charts.pop(next(iter(_charts)))
    return q, filters, figures, charts[1]


def figures_for(args) -> tuple[str, Filters, dict[str, Any]]:
    q, filters = request_search(args)
    min_decided = int(current_app.config.get("INSIGHTS_MIN_DECIDED", MIN_DECIDED))
    key = (
        tuple((name, tuple(args.getlist(name))) for name in SEARCH_ARGS),
        data_watermark(),
        min_decided,
        current_app.config["SEARCH_INDEX_DIR"],
    )
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return q, filters, hit[1]
    if narrows(q, filters):
        ids, tags = matching_bids(q, filters)
    else:
        ids, tags = None, matching_bids("", filters)[1]
    figures = field_figures(ids, min_decided=min_decided, tags=tags)
    with _lock:
        _cache[key] = (now, figures)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return q, filters, figures
