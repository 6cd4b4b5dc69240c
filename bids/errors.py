"""Domain errors; the web layer maps them to pages and JSON errors.

The one transaction policy of every service: a service checks, changes the session and
flushes, and never commits or rolls back. Its caller (a view, the API, a command) owns the
unit of work: it commits when the service returns, and when the service raises it rolls the
session back before doing anything else with it, since what the service flushed before
raising must never reach a later commit.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause."""

    code = "error"


class NotFound(DomainError):
    """Missing, or invisible to this user (drafts and pools look the same as absent)."""

    code = "not_found"


class Forbidden(DomainError):
    """Visible, but this user may not change it."""

    code = "forbidden"


class ValidationError(DomainError):
    """Bad input; `errors` maps each field to a human message. Nothing was changed."""

    code = "validation_error"

    def __init__(self, errors: dict[str, str] | str):
        if isinstance(errors, str):
            errors = {"__all__": errors}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in errors.items()))
