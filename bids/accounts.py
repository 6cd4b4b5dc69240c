"""People: sign-up, sign-in checks and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select

from bids.database import db, utcnow
from bids.errors import NotFound, ValidationError
from bids.models import ApiToken, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "ob_"


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(email: str, display_name: str, password: str, *, is_admin: bool = False) -> User:
    errors: dict[str, str] = {}
    email = normalise_email(email)
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "Enter a valid email address."
    elif get_user_by_email(email):
        errors["email"] = "An account with this email already exists: sign in instead."
    display_name = (display_name or "").strip()
    if not display_name:
        errors["display_name"] = "Tell us your name."
    elif len(display_name) > 120:
        errors["display_name"] = "Name must be at most 120 characters."
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = f"Use at least {MIN_PASSWORD} characters."
    if errors:
        raise ValidationError(errors)
    user = User(email=email, display_name=display_name, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = get_user_by_email(email)
    if user is None:
        # Spend the same time as a real check so response times do not reveal accounts.
        User(password_hash="scrypt:32768:8:1$x$0").check_password(password or "")
        return None
    return user if user.check_password(password or "") else None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the stored token and the secret, which is shown once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=(name or "API token").strip()[:100],
        token_hash=_hash_token(secret),
        prefix=secret[:10],
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def user_for_token(secret: str) -> User | None:
    if not secret:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(secret)))
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    return token.user


def user_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke_api_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    token.revoked_at = token.revoked_at or utcnow()


def update_display_name(user: User, display_name: str) -> User:
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationError({"display_name": "Tell us your name."})
    if len(display_name) > 120:
        raise ValidationError({"display_name": "Name must be at most 120 characters."})
    user.display_name = display_name
    db.session.flush()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """The current password must be given; the new one follows the sign-up rule."""
    errors: dict[str, str] = {}
    if not user.check_password(current or ""):
        errors["current_password"] = "That is not your current password."
    if len(new or "") < MIN_PASSWORD:
        errors["new_password"] = f"Use at least {MIN_PASSWORD} characters."
    if errors:
        raise ValidationError(errors)
    user.set_password(new)
    db.session.flush()
