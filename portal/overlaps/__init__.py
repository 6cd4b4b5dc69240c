from flask import Blueprint

bp = Blueprint("overlaps", __name__)

from portal.overlaps import routes  # noqa: E402,F401  (routes attach themselves to bp)
