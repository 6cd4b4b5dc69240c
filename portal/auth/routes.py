"""Routes of the auth area."""

from flask import abort

from portal.auth import bp


# PLACEHOLDER: replace each of these with the real view (owner of this area).
@bp.route("/account")
def account():
    abort(404)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    abort(404)


@bp.route("/login", methods=["GET", "POST"])
def login():
    abort(404)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    abort(404)
