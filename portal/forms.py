"""Helpers shared by every area's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm


def apply_errors(form: FlaskForm, errors: dict[str, str]) -> None:
    """Show a domain ValidationError's messages beside the fields they name; the rest on top."""
    for name, message in errors.items():
        field = form._fields.get(name) if name != "__all__" else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
