"""Everything the search index and the similarity matcher know (derived data, rebuildable)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Bind the index services to the app (outbox listeners, index locations)."""
