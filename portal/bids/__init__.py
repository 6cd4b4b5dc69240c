"""Bid pages (publish, edit, read, attachments, revisions): the `bids` blueprint at /bids."""

from flask import Blueprint

bp = Blueprint("bids", __name__)

from portal.bids import routes  # noqa: E402,F401  (routes attach themselves to bp)
