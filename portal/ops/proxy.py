"""Trust `X-Forwarded-*` from a configured number of proxy hops, and no more."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    """Without this, every caller behind a proxy shares the proxy's address (one rate bucket)."""
    hops = int(app.config.get("PROXY_HOPS", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
