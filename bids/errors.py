"""Domain errors; the web layer maps them to pages and JSON errors."""

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
