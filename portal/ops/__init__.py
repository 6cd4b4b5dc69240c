"""Running as a service: proxy headers, request ids, structured logs and `/healthz`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the production plumbing into the app (called from `create_app`)."""
    from portal.ops import health, logs, proxy

    proxy.init_app(app)
    logs.init_app(app)
    app.register_blueprint(health.bp)
