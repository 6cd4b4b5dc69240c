"""Sign-up, sign-in and the account page: the `auth` blueprint."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import routes  # noqa: E402,F401  (routes attach themselves to bp)
