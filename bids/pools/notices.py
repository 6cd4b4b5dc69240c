"""The funders' inbox: notifications that name their subject (the web layer links them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from bids.access import real_user
from bids.database import db, utcnow
from bids.models import Membership, User
from bids.pools.models import (
    NoticeSubject,
    Notification,
)


def notify_users(
    user_ids: Iterable[int],
    kind: str,
    text: str,
    subject: NoticeSubject = NoticeSubject.NONE,
    subject_id: int | None = None,
    *,
    skip: int | None = None,
) -> None:
    """Put a notice in each user's inbox; `subject` and `subject_id` say what it is about."""
    for user_id in sorted(set(user_ids) - {skip}):
        db.session.add(
            Notification(
                user_id=user_id, kind=kind, text=text[:500], subject=subject, subject_id=subject_id
            )
        )


def org_user_ids(org_ids: Iterable[int]) -> set[int]:
    org_ids = list(org_ids)
    if not org_ids:
        return set()
    return set(
        db.session.scalars(
            select(Membership.user_id).where(Membership.organisation_id.in_(org_ids))
        )
    )


def unread_count(user: Any) -> int:
    user = real_user(user)
    if user is None:
        return 0
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def inbox(user: User, limit: int = 100) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(user: User, notification_ids: Iterable[int] | None = None) -> int:
    query = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_ids is not None:
        query = query.where(Notification.id.in_(list(notification_ids)))
    result = db.session.execute(query.values(read_at=utcnow()))
    return result.rowcount  # type: ignore[attr-defined]  # an UPDATE: a CursorResult
