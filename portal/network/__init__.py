from flask import Blueprint

bp = Blueprint("network", __name__)

from portal.network import routes  # noqa: E402,F401  (routes attach themselves to bp)
