"""JSON API v1 (mounted at /api/v1): bearer tokens, never cookies, so no CSRF.

Each API module attaches its routes to `bp` and describes them with
`portal.api.openapi.add_paths`; import new modules below, next to `routes`.
"""

from flask import Blueprint, abort, request

from portal.api.auth import rate_limit_key, rate_limit_value
from portal.extensions import csrf, db, limiter

bp = Blueprint("api", __name__)
csrf.exempt(bp)
# Routes may set their own, stricter limits; these apply to the rest of the blueprint.
limiter.limit(rate_limit_value, key_func=rate_limit_key)(bp)


MAX_DATABASE_ID = 2**63 - 1  # BIGINT's (and SQLite's) largest integer


@bp.before_request
def _ids_in_range():
    """An id in the path that no database row can have is not found (the database would
    raise an OverflowError, a 500)."""
    if any(isinstance(v, int) and v > MAX_DATABASE_ID for v in (request.view_args or {}).values()):
        abort(404)


@bp.after_request
def _nothing_changes_on_failure(response):
    """A refused request leaves no trace, even if a service flushed before it refused."""
    if response.status_code >= 400:
        db.session.rollback()
    return response


@bp.after_request
def _public_reads(response):
    """Reads: open to pages on any origin (bearer tokens, never cookies, so `*` is safe), and
    conditional: an ETag of the body, and 304 when the caller already has it."""
    if request.method not in ("GET", "HEAD"):
        return response
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "Link, ETag, Last-Modified, Retry-After"
    response.vary.add("Authorization")  # a token's reads include its organisations' drafts
    if response.status_code == 200 and not response.is_streamed:
        response.add_etag()
        response.make_conditional(request)
    return response


def page_links(page: int, per_page: int, total: int, **args) -> str:
    """The `Link` header of a paged list: first, prev, next and last pages of this URL."""
    from flask import url_for

    last = max(1, -(-total // per_page))
    query = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    query.update(args)

    def link(number: int, rel: str) -> str:
        url = url_for(
            request.endpoint,
            **(request.view_args or {}),
            **query,
            page=number,
            per_page=per_page,
            _external=True,
        )
        return f'<{url}>; rel="{rel}"'

    links = [link(1, "first")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    return ", ".join(links)


# Registration order as before (routes first), so the import sorter is off here.
# isort: off
from portal.api import routes  # noqa: E402,F401  (routes attach themselves to bp)
from portal.api import docs  # noqa: E402,F401  (/openapi.json and the endpoint list)
from portal.api import pools  # noqa: E402,F401  (the funders' pool API)
from portal.api import search_api  # noqa: E402,F401  (search and exports)
from portal.api import similar  # noqa: E402,F401  (overlapping bids)
from portal.api import giving360_api  # noqa: E402,F401  (360Giving out)
from portal.api import insights  # noqa: E402,F401  (insights, network, profiles)
# isort: on
