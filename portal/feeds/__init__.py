"""Atom feeds of new and updated bids (site, a search, an organisation, a funder), sitemap.xml
and robots.txt: what feed readers and crawlers fetch."""

from flask import Blueprint

bp = Blueprint("feeds", __name__)

from portal.feeds import routes  # noqa: E402,F401
