from flask import Blueprint

bp = Blueprint("insights", __name__)

from portal.insights import routes  # noqa: E402,F401  (routes attach themselves to bp)
