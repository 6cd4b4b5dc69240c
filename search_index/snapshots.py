"""Derived figures kept per data generation: computed once, then read until the data moves.

A generation is the data watermark (bids and organisations: how many, the newest id, the
latest change) with the search index's own generation (the insights read tag counts from
it). A new, edited, hidden or deleted bid, a changed outcome, a new organisation or an
index update is a new generation, so nothing here can serve figures of older data.

- `stored(name, key, compute)` keeps the newest value of `name` in
  `INSTANCE_DIR/derived/<name>.json`, shared by the web processes and the worker and kept
  over a restart (the whole field's figures and charts: about a second to compute at 42k
  bids, milliseconds to read);
- `remembered(name, key, compute)` keeps the latest values of many keys in this process
  (an organisation's profile), least recently used dropped first.

Everything here is rebuilt from the database on demand: deleting the folder loses nothing.
The worker calls `warm_field_figures` once it has had nothing to apply for
`WORKER_FIGURES_AFTER_S`, so the whole field's figures are ready for the next page once the
writes settle (not whenever the outbox empties: under a stream of writes that is after every
batch, each generation lasts a moment, and computing each one held up the index work
behind it).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from bids.database import db
from bids.models import Bid, Organisation

T = TypeVar("T")
REMEMBERED = 256  # values per name kept by `remembered`

_lock = threading.Lock()
_stored: dict[str, tuple[Any, Any]] = {}  # file -> (key, value)
_remembered: dict[str, OrderedDict] = {}


def _search_generation() -> list | None:
    """The Whoosh index's folder and generation (None for PostgreSQL, whose search reads the
    bid rows themselves, so the data watermark covers it)."""
    from search_index import get_index

    index = get_index()
    if not hasattr(index, "open") or not index.exists():
        return None
    return [index.current_name(), index.open().latest_generation()]


def generation(session=None) -> list:
    """The data generation: moves whenever a bid or organisation is added, changed or
    removed, or the search index takes in changes."""
    session = session or db.session
    bids = session.execute(
        select(func.count(Bid.id), func.max(Bid.id), func.max(Bid.updated_at))
    ).one()
    orgs = session.execute(select(func.count(Organisation.id), func.max(Organisation.id))).one()
    return [
        bids[0],
        bids[1],
        bids[2].isoformat() if bids[2] else None,
        orgs[0],
        orgs[1],
        _search_generation(),
    ]


def _plain(key: Any) -> Any:
    """The key as it reads back from JSON (tuples become lists), for comparing with a file's."""
    return json.loads(json.dumps(key))


def _folder() -> Path:
    from flask import current_app

    return Path(current_app.config["INSTANCE_DIR"]) / "derived"


def stored(
    name: str,
    key: Any,
    compute: Callable[[], T],
    *,
    encode: Callable[[T], Any] = lambda v: v,
    decode: Callable[[Any], T] = lambda v: v,
) -> T:
    """The value of `name` for `key` (which holds the generation): from this process, else
    from its file, else computed and written there for every process."""
    key = _plain(key)
    path = _folder() / f"{name}.json"
    with _lock:
        entry = _stored.get(str(path))
    if entry is not None and entry[0] == key:
        return entry[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") == key:
            value = decode(data["value"])
            with _lock:
                _stored[str(path)] = (key, value)
            return value
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(
        json.dumps({"key": key, "value": encode(value)}, separators=(",", ":")), encoding="utf-8"
    )
    os.replace(tmp, path)
    with _lock:
        _stored[str(path)] = (key, value)
    return value


def remembered(name: str, key: Any, compute: Callable[[], T]) -> T:
    """The value for `key` (which holds the generation), kept in this process."""
    key = _plain(key)
    marker = json.dumps(key, separators=(",", ":"))
    with _lock:
        values = _remembered.setdefault(name, OrderedDict())
        if marker in values:
            values.move_to_end(marker)
            return values[marker]
    value = compute()
    with _lock:
        values[marker] = value
        while len(values) > REMEMBERED:
            values.popitem(last=False)
    return value


def forget() -> None:
    """Drop what this process holds (the files stay): the next read comes from the files."""
    with _lock:
        _stored.clear()
        _remembered.clear()


def whole_field_figures(min_decided: int, session=None, now: list | None = None) -> dict[str, Any]:
    """The figures of every public bid (`bids.insights.field_figures`), stored per generation
    (`now`: the generation when the caller has just read it)."""
    from bids.insights import field_figures
    from search_index.selection import matching_bids

    def compute() -> dict[str, Any]:
        return field_figures(
            None, min_decided=min_decided, tags=matching_bids("")[1], session=session
        )

    key = ["field", min_decided, now if now is not None else generation(session)]
    return stored("field-figures", key, compute)


def warm_field_figures(session=None) -> None:
    """Compute the whole field's figures for the current generation unless they are stored
    already (the worker's step when the outbox is empty)."""
    from flask import current_app

    from bids.insights import MIN_DECIDED

    whole_field_figures(
        int(current_app.config.get("INSIGHTS_MIN_DECIDED", MIN_DECIDED)), session=session
    )
