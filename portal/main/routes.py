"""Home page and the public list of bids."""

from __future__ import annotations

from flask import current_app, render_template

from bids.publishing import (
    featured_collective_bid,
    home_counts,
    latest_published_bids,
    published_bids_query,
)
from portal.main import bp
from portal.pagination import paginate


@bp.route("/")
def home():
    return render_template(
        "main/home.html",
        counts=home_counts(),
        featured=featured_collective_bid(),
        latest=latest_published_bids(10),
    )


@bp.route("/bids/")
def bid_list():
    # A page past the last is a 404 here: this list is what crawlers follow.
    pagination = paginate(
        published_bids_query(), current_app.config["BIDS_PER_PAGE"], error_out=True
    )
    return render_template("main/bid_list.html", pagination=pagination)
