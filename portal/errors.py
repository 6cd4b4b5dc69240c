"""Error pages and JSON errors: one place maps domain errors to HTTP."""

from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from bids.database import db
from bids.errors import Forbidden, NotFound, ValidationError

MESSAGES = {
    400: "The request could not be understood.",
    401: "Sign in to do this.",
    403: "You do not have permission to do this.",
    404: "There is nothing here. It may never have existed, or it may not be public.",
    405: "That method is not allowed here.",
    413: "That upload is too large.",
    415: "That type of file is not accepted.",
    422: "Some of what you sent is not valid.",
    429: "Too many requests: please wait a moment and try again.",
    503: "The database is busy or restarting: nothing was changed. Try again in a few seconds.",
    500: "Something went wrong on our side. Nothing you did caused it.",
}
PASSED_HEADERS = {
    "Allow",
    "WWW-Authenticate",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(
    status: int, message: str | None = None, code: str | None = None, details: dict | None = None
):
    message = message or MESSAGES.get(status, "Error")
    if wants_json():
        body = {"error": {"code": code or _code(status), "message": message}}
        if details:
            body["error"]["fields"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def _code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "validation_error",
        429: "rate_limited",
        500: "server_error",
        503: "unavailable",
    }.get(status, "error")


def init_app(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def domain_not_found(exc: NotFound):
        return error_response(404, str(exc) or None)

    @app.errorhandler(Forbidden)
    def domain_forbidden(exc: Forbidden):
        return error_response(403, str(exc) or None)

    @app.errorhandler(ValidationError)
    def domain_invalid(exc: ValidationError):
        return error_response(422, str(exc), details=exc.errors)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # A locked SQLite file or a PostgreSQL restart: the transaction is gone, nothing was
        # written; the caller may safely retry.
        db.session.rollback()
        app.logger.warning("Database unavailable: %s", exc.orig)
        response = make_response(error_response(503))
        response.headers["Retry-After"] = str(app.config.get("DATABASE_RETRY_AFTER_S", 5))
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(
            400,
            "The form expired or was not sent from this site. Reload the page and try again.",
            code="csrf_failed",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = MESSAGES.get(status) if status in (404, 500) else (exc.description or None)
        if status == 429:
            message = MESSAGES[429]
        response = make_response(error_response(status, message))
        # Keep the headers the status promises (Allow on 405, the Bearer challenge on 401).
        for name, value in exc.get_headers():
            if name in PASSED_HEADERS:
                response.headers[name] = value
        return response
