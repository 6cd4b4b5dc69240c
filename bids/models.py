"""Typed SQLAlchemy 2.0 models of the repository core.

Money is kept as integer hundredths of the currency unit (`*_minor` columns) so
no float or Decimal rounding differs between SQLite and PostgreSQL; the
`amount_requested` / `amount_awarded` properties give `Decimal` values.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, overload

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from bids.database import Model, utcnow


class OrgKind(enum.StrEnum):
    APPLICANT = "applicant"
    FUNDER = "funder"
    COLLECTIVE = "collective"
    OTHER = "other"


class Role(enum.StrEnum):
    OWNER = "owner"
    EDITOR = "editor"


class BidStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWARDED = "awarded"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class Visibility(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class LinkKind(enum.StrEnum):
    RESUBMISSION_OF = "resubmission_of"
    ALSO_SENT_TO = "also_sent_to"


class ExtractionStatus(enum.StrEnum):
    PENDING = "pending"
    OK = "ok"
    NO_TEXT_LAYER = "no_text_layer"
    ENCRYPTED = "encrypted"
    FAILED = "failed"


class Organisation(Model):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=OrgKind.APPLICANT)
    # org-id.guide form, e.g. GB-CHC-1164883 (360Giving's "Organisation Identifier").
    org_identifier: Mapped[str | None] = mapped_column(String(100), unique=True)
    website: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Every identifier a 360Giving file gave it, org-id and 360G- alike: imports match on them.
    identifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"


class User(UserMixin, Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, which makes the unique constraint case-insensitive everywhere.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def organisation_ids(self) -> set[int]:
        return {m.organisation_id for m in self.memberships}

    def role_in(self, organisation_id: int) -> str | None:
        for membership in self.memberships:
            if membership.organisation_id == organisation_id:
                return membership.role
        return None

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Membership(Model):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default=Role.EDITOR)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(back_populates="memberships")


class Invitation(Model):
    """A link an owner copies to a colleague; no mail server is needed."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default=Role.EDITOR)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    organisation: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])


class OrganisationClaim(Model):
    """A user asks to manage an organisation nobody manages yet (e.g. a funder first named by
    a bid); a site admin approves (the user becomes its owner) or refuses."""

    __tablename__ = "organisation_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved: Mapped[bool | None] = mapped_column(Boolean)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    organisation: Mapped[Organisation] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_open(self) -> bool:
        return self.decided_at is None


class ApiToken(Model):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class Bid(Model):
    __tablename__ = "bid"
    # Public lists (newest first, id breaking ties) walk this index in order, and their counts
    # and the home page's totals read only it, never the wide rows: at 42k bids that is
    # milliseconds instead of a table scan per query.
    __table_args__ = (
        Index(
            "ix_bid_public_listing",
            "visibility",
            "hidden_at",
            "published_at",
            "id",
            "organisation_id",
            "funder_id",
            "currency",
            "amount_requested_minor",
        ),
        # The insights' aggregates (bids/insights.py) scan this narrow index, not the rows.
        Index(
            "ix_bid_figures",
            "visibility",
            "hidden_at",
            "status",
            "funder_id",
            "organisation_id",
            "currency",
            "amount_requested_minor",
            "amount_awarded_minor",
            "submitted_on",
            "decided_on",
            "programme",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    funder_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    programme: Mapped[str] = mapped_column(String(200), default="")
    amount_requested_minor: Mapped[int | None] = mapped_column(BigInteger)
    amount_awarded_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    duration_months: Mapped[int | None] = mapped_column(Integer)
    submitted_on: Mapped[date | None] = mapped_column(Date, index=True)
    decided_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=BidStatus.DRAFT, index=True)
    visibility: Mapped[str] = mapped_column(String(20), default=Visibility.DRAFT, index=True)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    licence: Mapped[str] = mapped_column(String(30), default="CC-BY-4.0")
    source_url: Mapped[str | None] = mapped_column(String(500))
    # 360Giving fields with a column of their own (plannedDates, fromOpenCall, dataSource,
    # dateModified); the rest of a grant that Open Bids keeps (every recipient and funder,
    # classifications, beneficiaryLocation with geocodes, grantProgramme, identifiers) is in
    # `giving360`, in the standard's own field names.
    planned_start_on: Mapped[date | None] = mapped_column(Date)
    planned_end_on: Mapped[date | None] = mapped_column(Date)
    from_open_call: Mapped[bool | None] = mapped_column(Boolean)
    data_source: Mapped[str | None] = mapped_column(String(500))
    source_modified_at: Mapped[datetime | None] = mapped_column(DateTime)
    giving360: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, index=True
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    funder: Mapped[Organisation | None] = relationship(foreign_keys=[funder_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="bid", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="bid", cascade="all, delete-orphan", order_by="Revision.number"
    )
    links: Mapped[list[BidLink]] = relationship(
        foreign_keys="BidLink.from_bid_id", back_populates="from_bid", cascade="all, delete-orphan"
    )
    backlinks: Mapped[list[BidLink]] = relationship(
        foreign_keys="BidLink.to_bid_id", back_populates="to_bid", cascade="all, delete-orphan"
    )

    @property
    def amount_requested(self) -> Decimal | None:
        return from_minor(self.amount_requested_minor)

    @property
    def amount_awarded(self) -> Decimal | None:
        return from_minor(self.amount_awarded_minor)

    @property
    def is_published(self) -> bool:
        return self.visibility == Visibility.PUBLISHED

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def is_public(self) -> bool:
        """Readable by anyone: published and not hidden by a moderator."""
        return self.is_published and not self.is_hidden

    @property
    def year(self) -> int | None:
        """The year it was submitted, else decided; never the day it was published here."""
        when = self.submitted_on or self.decided_on
        return when.year if when else None

    def plain_text(self) -> str:
        """Body and attachments' text: what search and similarity read."""
        parts = [self.title, self.summary, self.body]
        parts.extend(a.text for a in self.attachments if a.text)
        return "\n\n".join(p for p in parts if p)

    def __repr__(self) -> str:
        return f"<Bid {self.identifier}>"


class BidLink(Model):
    """Lineage: `from_bid` is a resubmission of, or was also sent to, `to_bid`'s funder."""

    __tablename__ = "bid_link"
    __table_args__ = (UniqueConstraint("from_bid_id", "to_bid_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    to_bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    from_bid: Mapped[Bid] = relationship(foreign_keys=[from_bid_id], back_populates="links")
    to_bid: Mapped[Bid] = relationship(foreign_keys=[to_bid_id], back_populates="backlinks")


class Attachment(Model):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pages: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    extraction_status: Mapped[str] = mapped_column(String(20), default=ExtractionStatus.PENDING)
    extraction_message: Mapped[str] = mapped_column(Text, default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    bid: Mapped[Bid] = relationship(back_populates="attachments")


class Revision(Model):
    """A numbered snapshot of every field of a published bid, taken at each save."""

    __tablename__ = "revision"
    __table_args__ = (UniqueConstraint("bid_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    note: Mapped[str] = mapped_column(String(300), default="")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)

    bid: Mapped[Bid] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship()


def to_minor(amount: Decimal | int | float | str | None) -> int | None:
    if amount is None or amount == "":
        return None
    return int((Decimal(str(amount)) * 100).to_integral_value())


@overload
def from_minor(minor: int) -> Decimal: ...
@overload
def from_minor(minor: None) -> None: ...
@overload
def from_minor(minor: int | None) -> Decimal | None: ...
def from_minor(minor: int | None) -> Decimal | None:
    if minor is None:
        return None
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


class IndexOutbox(Model):
    """Pending index work, written in the same transaction as the change it records.

    One row per derived store (`target`: "search" or "similar"); a consumer deletes
    the rows it has applied, so a crash or a locked index loses nothing.
    """

    __tablename__ = "index_outbox"
    # Never reuse ids (SQLite would hand out a deleted row's id again): consumers delete the
    # rows they applied by id, and a reused id would delete a newer, unapplied change.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(20), index=True)
    bid_id: Mapped[int] = mapped_column(Integer, index=True)  # no FK: deletions are recorded too
    action: Mapped[str] = mapped_column(String(10), default="upsert")  # upsert or delete
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Not to be tried before this (backoff after a failure).
    available_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, server_default=func.current_timestamp()
    )
    # A consumer's lease: rows whose lease ran out (a killed worker) are claimed again.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Set after too many failed attempts: kept for `index status`, no longer tried.
    dead_at: Mapped[datetime | None] = mapped_column(DateTime)


class JobRun(Model):
    """When each periodic job (vocabulary refit, cluster refresh, prune) last ran, and how."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool | None] = mapped_column(Boolean)
    last_error: Mapped[str | None] = mapped_column(Text)
