"""Routes of the overlaps area."""

from flask import abort

from portal.overlaps import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/check")
def check():
    abort(404)
