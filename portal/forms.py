"""Helpers shared by every area's forms: the one way a domain error reaches a form."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm


def apply_errors(form: FlaskForm, errors: Mapping[str, str]) -> None:
    """Show a domain ValidationError's messages beside the fields they name; the rest on top.

    A form whose fields are named differently from the domain's keys maps them in its
    `ERROR_FIELDS` (domain key -> field name); keys it does not map go on top.
    """
    names = getattr(form, "ERROR_FIELDS", None)
    for key, message in errors.items():
        name = key if names is None else names.get(key)
        field = form._fields.get(name) if name and name != "__all__" else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
