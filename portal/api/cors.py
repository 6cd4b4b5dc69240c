"""CORS (flask-cors) on the public read API: `Access-Control-Allow-Origin: *` on GET and HEAD
answers of /api/v1 and on the preflights (OPTIONS) that ask for them, so pages on any origin
can read the data. Never on writes (POST, PATCH, DELETE, and preflights asking for them), on
the API's HTML page, or anywhere outside /api/v1 (the site's cookie-authenticated pages).

`*` without credentials is safe here: the API reads bearer tokens, never cookies, and a
browser sends no cookies to another origin under `*`.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS

READS = ("GET", "HEAD")
# The headers a cross-origin script may read, and those it may send on a read.
EXPOSED = ["Link", "ETag", "Last-Modified", "Retry-After", "Content-Disposition"]
ALLOWED = ["Authorization", "If-None-Match", "If-Modified-Since"]
NOT_OPEN = ("api.docs",)  # HTML for people

cors = CORS()


def _is_public_read() -> bool:
    if request.endpoint in NOT_OPEN:
        return False
    if request.method == "OPTIONS":
        return request.headers.get("Access-Control-Request-Method", "").upper() in READS
    return request.method in READS


def _only_on_reads(response: Response) -> Response:
    if not _is_public_read():
        for name in [h for h, _ in response.headers.items() if h.startswith("Access-Control-")]:
            del response.headers[name]
    return response


def init_app(app: Flask) -> None:
    # Flask runs after-request functions in reverse order of registration: registered first,
    # `_only_on_reads` sees the headers flask-cors has just added, and removes them from writes.
    app.after_request(_only_on_reads)
    cors.init_app(
        app,
        resources={r"/api/v1/*": {"origins": "*"}},
        methods=["GET", "HEAD", "OPTIONS"],
        expose_headers=EXPOSED,
        allow_headers=ALLOWED,
        send_wildcard=True,  # `*` itself, not the caller's origin echoed back
        supports_credentials=False,
        max_age=86400,
        vary_header=False,
    )
