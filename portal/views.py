"""View helpers every blueprint shares: the signed-in actor, committing a write, the overlap panel.

Blueprints import these from here, never from one another's routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import flash
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from bids.database import db
from bids.errors import ValidationError
from portal.forms import apply_errors
from search_index import similarity


def actor():
    """The signed-in user as a model instance (None when signed out)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


@dataclass
class WriteOutcome:
    """What `commit_or_errors` did: `ok` once committed, else the domain's `errors`."""

    ok: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


def error_text(errors: Mapping[str, str]) -> str:
    """A domain error's messages as one line, for a flash."""
    return " ".join(errors.values())


@contextmanager
def commit_or_errors(
    form: FlaskForm | None = None,
    *,
    flash_errors: bool = False,
    on_conflict: Mapping[str, str] | None = None,
) -> Iterator[WriteOutcome]:
    """The one policy for a view's write: commit it, or roll it all back before anything renders.

    On a domain `ValidationError` the session is rolled back, then the errors go on `form`
    (beside the fields they name), or into a flash message with `flash_errors`; with neither,
    the error is raised again for the error pages (422). `on_conflict` gives the form errors for
    an `IntegrityError` at commit (a concurrent request won a unique constraint).
    """
    outcome = WriteOutcome()
    try:
        yield outcome
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        if form is None and not flash_errors:
            raise
        outcome.errors = exc.errors
        if form is not None:
            apply_errors(form, exc.errors)
        if flash_errors:
            flash(error_text(exc.errors), "error")
    except IntegrityError:
        db.session.rollback()
        if on_conflict is None:
            raise
        outcome.errors = dict(on_conflict)
        if form is not None:
            apply_errors(form, outcome.errors)
        if flash_errors:
            flash(error_text(outcome.errors), "error")
    else:
        outcome.ok = True


def overlap_panel(user, bid) -> dict:
    """Template data of the "Overlapping bids" panel (`overlaps/_panel.html`) for one bid."""
    matches = similarity.similar_to_bid(user, bid, limit=10)
    member = (
        user is not None
        and getattr(user, "is_authenticated", False)
        and bid.organisation_id in user.organisation_ids()
    )
    hints = similarity.lineage_candidates(bid, matches) if member else []
    return {"overlaps": matches, "overlap_bid": bid, "lineage_hints": hints}
