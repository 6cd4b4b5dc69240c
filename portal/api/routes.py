"""Routes of the api area."""

from flask import abort

from portal.api import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/openapi.json")
def openapi():
    abort(404)
