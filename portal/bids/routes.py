"""Routes of the bids area."""

from flask import abort

from portal.bids import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/new")
def new():
    abort(404)
