"""The search page and its downloads: the `search` blueprint."""

from flask import Blueprint

bp = Blueprint("search", __name__)

from portal.search import routes  # noqa: E402,F401  (routes attach themselves to bp)
