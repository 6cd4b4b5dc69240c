"""Routes of the search area."""

from flask import abort

from portal.search import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/search")
def search():
    abort(404)
