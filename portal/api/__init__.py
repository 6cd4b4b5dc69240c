"""JSON API v1 (mounted at /api/v1): bearer tokens, never cookies, so no CSRF.

Each API module attaches its routes to `bp` and describes them with
`portal.api.openapi.add_paths`; import new modules below, next to `routes`.
"""

from flask import Blueprint

from portal.api.auth import rate_limit_key, rate_limit_value
from portal.extensions import csrf, db, limiter

bp = Blueprint("api", __name__)
csrf.exempt(bp)
# Routes may set their own, stricter limits; these apply to the rest of the blueprint.
limiter.limit(rate_limit_value, key_func=rate_limit_key)(bp)



@bp.after_request
def _nothing_changes_on_failure(response):
    """A refused request leaves no trace, even if a service flushed before it refused."""
    if response.status_code >= 400:
        db.session.rollback()
    return response


from portal.api import routes  # noqa: E402,F401  (routes attach themselves to bp)
from portal.api import pools  # noqa: E402,F401  (the funders' pool API)
from portal.api import search_api  # noqa: E402,F401  (search and exports)
from portal.api import similar  # noqa: E402,F401  (overlapping bids)
from portal.api import insights  # noqa: E402,F401  (insights, network, profiles)
