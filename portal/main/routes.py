"""Home page and the public list of bids."""

from __future__ import annotations

from flask import current_app, render_template, request

from bids.database import db
from bids.publishing import (
    featured_collective_bid,
    home_counts,
    latest_published_bids,
    published_bids_query,
)
from portal.main import bp


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
    page = request.args.get("page", 1, type=int)
    pagination = db.paginate(
        published_bids_query(), page=page, per_page=current_app.config["BIDS_PER_PAGE"],
        max_per_page=100,
    )
    return render_template("main/bid_list.html", pagination=pagination)
