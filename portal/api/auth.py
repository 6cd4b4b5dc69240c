"""Bearer-token authentication for the API (never cookies: the API is exempt from CSRF).

`api_user()` gives the caller's User or None (anonymous); a token that is sent
but unknown or revoked is refused with 401 even on public reads, so a client
learns at once that its token no longer works. `token_required` guards writes.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from bids.accounts import user_for_token
from bids.database import db
from bids.models import User

_UNSET = object()
_CACHE_KEY = "openbids.api_user"


class TokenError(Unauthorized):
    """401 with a `WWW-Authenticate: Bearer` challenge."""

    def __init__(self, description: str, error: str | None = None):
        challenge = WWWAuthenticate("bearer", {"realm": "Open Bids API"})
        if error:
            challenge["error"] = error
        super().__init__(description=description, www_authenticate=challenge)


def bearer_secret() -> str | None:
    """The token from `Authorization: Bearer <token>`, '' when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return ""
    return secret.strip()


def api_user() -> User | None:
    """The token's user for this request, None when no token was sent; 401 for a bad one."""
    # Cached per request (in its environ: `g` can outlive a request when an app context is reused).
    cached = request.environ.get(_CACHE_KEY, _UNSET)
    if cached is not _UNSET:
        if isinstance(cached, Exception):
            raise cached
        return cached
    secret = bearer_secret()
    result: User | Exception | None
    if secret is None:
        result = None
    elif secret == "":
        result = TokenError("Send the token as `Authorization: Bearer <token>`.", "invalid_request")
    else:
        result = user_for_token(secret)
        if result is None:
            db.session.rollback()
            result = TokenError(
                "This API token is not valid: it may have been revoked.", "invalid_token"
            )
        else:
            db.session.commit()  # keeps the token's last_used_at
    request.environ[_CACHE_KEY] = result
    if isinstance(result, Exception):
        raise result
    return result


def require_user() -> User:
    user = api_user()
    if user is None:
        raise TokenError("This needs an API token: send `Authorization: Bearer <token>`.")
    return user


def token_required(view):
    """Decorator for write routes: 401 unless a valid bearer token is sent."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        require_user()
        return view(*args, **kwargs)

    return wrapped


def _limited_user() -> User | None:
    try:
        return api_user()
    except Unauthorized:
        return None  # a bad token is counted like an anonymous caller (and refused by the view)


def rate_limit_key() -> str:
    """Valid tokens are counted per user, everyone else per address."""
    user = _limited_user()
    if user is not None:
        return f"user:{user.id}"
    return "addr:" + (request.remote_addr or "unknown")


def rate_limit_value() -> str:
    if _limited_user() is not None:
        return current_app.config["RATELIMIT_API_TOKEN"]
    return current_app.config["RATELIMIT_API_ANON"]
