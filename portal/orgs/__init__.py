"""Organisation pages, members, invitations and claims: the `orgs` blueprint at /orgs."""

from flask import Blueprint

bp = Blueprint("orgs", __name__)

from portal.orgs import routes  # noqa: E402,F401  (routes attach themselves to bp)
