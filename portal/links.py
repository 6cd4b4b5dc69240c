"""Links to portal pages, built with `url_for` from the kinds and ids the domain hands over.

The domain never writes a URL: notifications name their subject and serialisers ask for
a resource's link through `bids.serialize`, which calls `external_url` here (wired in by
`init_app`). Endpoints are named in this one place.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context, has_request_context, url_for
from werkzeug.routing import BuildError

from bids.pools.models import NoticeSubject, Notification
from bids.serialize import LINKS_EXTENSION

# A serialised resource -> the endpoint of its page.
RESOURCE_ENDPOINTS = {"bid": "bids.show", "attachment": "bids.download"}

# A notification's subject -> the endpoint of its page and the argument its id fills.
NOTICE_ENDPOINTS = {
    NoticeSubject.POOL: ("pools.dashboard", "pool_id"),
    NoticeSubject.POOL_INVITATION: ("pools.invitation", "invitation_id"),
    NoticeSubject.INTRODUCTION: ("pools.introduction", "intro_id"),
    NoticeSubject.BID_PLEDGES: ("pools.applicant_pledges", "bid_id"),
}


def external_url(resource: str, **values: Any) -> str | None:
    """Absolute URL of a resource's page, or None when it cannot be built here (no request
    and no SERVER_NAME, e.g. a CLI job)."""
    if not (has_request_context() or (has_app_context() and current_app.config.get("SERVER_NAME"))):
        return None
    try:
        return url_for(RESOURCE_ENDPOINTS[resource], _external=True, **values)
    except BuildError:
        return None


def notice_url(notification: Notification) -> str:
    """The page a notification is about ("" when it names none)."""
    target = NOTICE_ENDPOINTS.get(notification.subject)
    if target is None or notification.subject_id is None:
        return ""
    endpoint, argument = target
    return url_for(endpoint, **{argument: notification.subject_id})


def init_app(app: Flask) -> None:
    app.extensions[LINKS_EXTENSION] = external_url
    app.jinja_env.filters["notice_url"] = notice_url
