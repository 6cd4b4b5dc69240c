"""Routes of the main area."""

from flask import abort

from portal.main import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/")
def home():
    abort(404)


@bp.route("/bids/")
def bid_list():
    abort(404)
