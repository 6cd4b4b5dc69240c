"""The home page and the public list of bids: the `main` blueprint."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from portal.main import routes  # noqa: E402,F401  (routes attach themselves to bp)
