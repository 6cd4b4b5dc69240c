from flask import Blueprint

bp = Blueprint("pools", __name__)

from portal.pools import routes  # noqa: E402,F401  (routes attach themselves to bp)
