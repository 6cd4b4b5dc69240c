"""Feeds are built with feedgen from public bids only (drafts and hidden bids never appear),
newest update first; sitemap.xml lists every public bid and organisation page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from feedgen.feed import FeedGenerator
from flask import (
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from bids.access import can_view
from bids.database import db
from bids.markdown_render import markdown_to_text
from bids.models import Bid, Organisation, Visibility
from portal.feeds import bp
from search_index.filters import filters_from_args
from search_index.service import get_search_service

FEED_SIZE = 50
SITEMAP_LIMIT = 50_000  # the sitemap protocol's limit for one file


def _public():
    return select(Bid).where(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))


def _atom(title: str, page_url: str, bids: list[Bid]) -> Response:
    feed = FeedGenerator()
    feed.id(request.url)
    feed.title(title)
    feed.link(href=request.url, rel="self")
    feed.link(href=page_url, rel="alternate")
    feed.author(name="Open Bids")
    feed.language("en")
    newest = max((b.updated_at for b in bids if b.updated_at), default=None)
    if newest:
        feed.updated(newest.replace(tzinfo=UTC))
    for bid in reversed(bids):  # feedgen puts the last added entry first
        entry = feed.add_entry()
        link = url_for("bids.show", bid_id=bid.id, _external=True)
        entry.id(link)
        entry.title(bid.title)
        entry.link(href=link)
        entry.author(name=bid.organisation.name)
        entry.updated(bid.updated_at.replace(tzinfo=UTC))
        if bid.published_at:
            entry.published(bid.published_at.replace(tzinfo=UTC))
        text = bid.summary or markdown_to_text(bid.body)
        entry.summary(text[:1000] or bid.title)
        if bid.funder:
            entry.category(term=bid.funder.name)
    return Response(feed.atom_str(pretty=True), mimetype="application/atom+xml")


def _latest(query) -> list[Bid]:
    return list(
        db.session.scalars(
            query.options(selectinload(Bid.organisation), selectinload(Bid.funder))
            .order_by(Bid.updated_at.desc(), Bid.id.desc())
            .limit(FEED_SIZE)
        )
    )


@bp.get("/feeds/bids.atom")
def site_feed():
    return _atom(
        "Open Bids: new and updated bids", url_for("main.home", _external=True), _latest(_public())
    )


@bp.get("/feeds/search.atom")
def search_feed():
    """The search page's results (same `q` and filters), newest first."""
    q = request.args.get("q", "")
    try:
        filters = filters_from_args(request.args, strict=True)
    except ValueError as exc:
        abort(400, str(exc))
    results = get_search_service().search(
        None, q, filters, "newest", 1, FEED_SIZE, snippets=False, facets=False
    )
    found = {
        b.id: b
        for b in db.session.scalars(
            select(Bid)
            .where(Bid.id.in_(results.bid_ids))
            .options(selectinload(Bid.organisation), selectinload(Bid.funder))
        )
    }
    bids = [found[i] for i in results.bid_ids if i in found and can_view(None, found[i])]
    title = f"Open Bids: search for {q}" if q else "Open Bids: search"
    return _atom(title, url_for("search.search", _external=True, **request.args), bids)


def _organisation(slug: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        abort(404)
    return org


@bp.get("/feeds/orgs/<slug>.atom")
def organisation_feed(slug: str):
    org = _organisation(slug)
    return _atom(
        f"Open Bids: bids by {org.name}",
        url_for("orgs.show", slug=slug, _external=True),
        _latest(_public().where(Bid.organisation_id == org.id)),
    )


@bp.get("/feeds/funders/<slug>.atom")
def funder_feed(slug: str):
    org = _organisation(slug)
    return _atom(
        f"Open Bids: bids to {org.name}",
        url_for("orgs.show", slug=slug, _external=True),
        _latest(_public().where(Bid.funder_id == org.id)),
    )


@bp.get("/sitemap.xml")
def sitemap():
    def lines():
        yield '<?xml version="1.0" encoding="UTF-8"?>\n'
        yield '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        yield f"<url><loc>{url_for('main.home', _external=True)}</loc></url>\n"
        rows = db.session.execute(
            select(Bid.id, Bid.updated_at)
            .where(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))
            .order_by(Bid.id)
            .limit(SITEMAP_LIMIT - 1000)
        )
        for bid_id, updated in rows:
            when = f"<lastmod>{updated.date().isoformat()}</lastmod>" if updated else ""
            loc = url_for("bids.show", bid_id=bid_id, _external=True)
            yield f"<url><loc>{loc}</loc>{when}</url>\n"
        listed = select(Bid.organisation_id).where(
            Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None)
        )
        funded = select(Bid.funder_id).where(
            Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None)
        )
        for (slug,) in db.session.execute(
            select(Organisation.slug)
            .where(or_(Organisation.id.in_(listed), Organisation.id.in_(funded)))
            .order_by(Organisation.id)
            .limit(999)
        ):
            yield f"<url><loc>{url_for('orgs.show', slug=slug, _external=True)}</loc></url>\n"
        yield "</urlset>\n"

    return Response("".join(lines()), mimetype="application/xml")


@bp.get("/robots.txt")
def robots():
    body = "\n".join(
        [
            "User-agent: *",
            # Accounts and forms are not for crawlers; the API has its own description.
            "Disallow: /login",
            "Disallow: /signup",
            "Disallow: /account",
            "Disallow: /api/",
            f"Sitemap: {url_for('feeds.sitemap', _external=True)}",
            "",
        ]
    )
    return Response(body, mimetype="text/plain")


DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _dump_dir() -> Path:
    return Path(
        current_app.config.get("DUMP_DIR") or Path(current_app.config["INSTANCE_DIR"]) / "dumps"
    )


@bp.get("/data")
def data():
    """The latest dump written by `flask --app portal export dump`, with sizes and dates."""
    root = _dump_dir()
    days = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and DAY_RE.match(p.name))
        if root.is_dir()
        else []
    )
    day = days[-1] if days else None
    files = []
    if day:
        for path in sorted((root / day).iterdir()):
            if path.is_file():
                stat = path.stat()
                written = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
                files.append({"name": path.name, "size": stat.st_size, "written": written})
    return render_template("feeds/data.html", day=day, files=files)


@bp.get("/data/<day>/<filename>")
def data_file(day: str, filename: str):
    if not DAY_RE.match(day):
        abort(404)
    return send_from_directory(_dump_dir() / day, filename, as_attachment=True)
