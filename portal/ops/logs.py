"""Request ids on every response and log line; JSON logs when `LOG_FORMAT=json`."""

from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept when it looks like one (a proxy's), never when it could forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str | None:
    """This request's id (from the proxy's header or made here), None outside a request."""
    if not has_request_context():
        return None
    rid = g.get("request_id")
    if rid is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        rid = sent if _SAFE_ID.match(sent) else uuid.uuid4().hex
        g.request_id = rid
    return rid


class RequestContextFilter(logging.Filter):
    """Adds `request_id`, `method` and `path` to every record made inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() or "-"
        if has_request_context():
            record.method = request.method
            record.path = request.path
        return True


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(RequestContextFilter())
    return handler


def init_app(app: Flask) -> None:
    if app.config.get("LOG_FORMAT") == "json":
        root = logging.getLogger()
        if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
            root.handlers[:] = [json_handler()]
        root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
        app.logger.handlers[:] = []
        app.logger.propagate = True
    else:
        for handler in logging.getLogger().handlers + app.logger.handlers:
            handler.addFilter(RequestContextFilter())

    @app.before_request
    def _assign_request_id() -> None:
        request_id()

    @app.after_request
    def _echo_request_id(response):
        rid = request_id()
        if rid:
            response.headers.setdefault(REQUEST_ID_HEADER, rid)
        return response
