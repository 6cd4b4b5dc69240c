"""The draft check and side-by-side comparisons of overlapping bids: the `overlaps` blueprint."""

from flask import Blueprint

bp = Blueprint("overlaps", __name__)

from portal.overlaps import routes  # noqa: E402,F401  (routes attach themselves to bp)
