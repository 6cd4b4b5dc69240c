from flask import Blueprint

bp = Blueprint("api", __name__)

from portal.api import routes  # noqa: E402,F401  (routes attach themselves to bp)
