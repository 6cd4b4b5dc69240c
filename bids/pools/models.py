"""Models of the funders' pool: programmes, pools, pledges, introductions, inbox, overlap clusters.

Pools belong to funder organisations: a user acts for a pool through their
membership of a member organisation. Overlap clusters are derived data (rebuilt
by `overlaps refresh`) but kept in tables so that the dashboard is fast.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bids.database import Model, utcnow
from bids.models import from_minor

if TYPE_CHECKING:
    from bids.models import Bid, Organisation, User


class Programme(Model):
    """A funder's published funding programme; bids name it by `Bid.programme` (free text)."""

    __tablename__ = "programme"
    __table_args__ = (UniqueConstraint("funder_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    nations: Mapped[list[str]] = mapped_column(JSON, default=list)
    opens_on: Mapped[date | None] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    typical_award_min_minor: Mapped[int | None] = mapped_column(BigInteger)
    typical_award_max_minor: Mapped[int | None] = mapped_column(BigInteger)
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    funder: Mapped[Organisation] = relationship()

    @property
    def typical_award_max(self) -> Decimal | None:
        return from_minor(self.typical_award_max_minor)

    @property
    def typical_award_min(self) -> Decimal | None:
        return from_minor(self.typical_award_min_minor)

    @property
    def budget(self) -> Decimal | None:
        return from_minor(self.budget_minor)


class PoolRole(enum.StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class Pool(Model):
    __tablename__ = "pool"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    geographies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When true, an applicant organisation sees this pool's pledges on its own bids.
    share_pledges_with_applicants: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[PoolMember]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolMember.id"
    )

    @property
    def owner(self) -> Organisation | None:
        return next((m.organisation for m in self.members if m.role == PoolRole.OWNER), None)

    def member_org_ids(self) -> set[int]:
        return {m.organisation_id for m in self.members}


class PoolMember(Model):
    __tablename__ = "pool_member"
    __table_args__ = (UniqueConstraint("pool_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20), default=PoolRole.MEMBER)
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    pool: Mapped[Pool] = relationship(back_populates="members")
    organisation: Mapped[Organisation] = relationship()


class PoolInvitation(Model):
    """An invitation of a funder organisation; any of its members may accept or decline."""

    __tablename__ = "pool_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    declined_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    pool: Mapped[Pool] = relationship()
    organisation: Mapped[Organisation] = relationship()
    invited_by: Mapped[User | None] = relationship()

    @property
    def is_open(self) -> bool:
        return not (self.accepted_at or self.declined_at or self.revoked_at)


class PledgeKind(enum.StrEnum):
    INTEREST = "interest"
    AMOUNT = "amount"


class Pledge(Model):
    """A member's interest in, or amount pledged to, a bid or an overlap cluster."""

    __tablename__ = "pledge"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    bid_id: Mapped[int | None] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    # Clusters are rebuilt, so no foreign key: the id is stable (smallest member bid id).
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20), default=PledgeKind.INTEREST)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)

    pool: Mapped[Pool] = relationship()
    organisation: Mapped[Organisation] = relationship()
    bid: Mapped[Bid | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def amount(self) -> Decimal | None:
        return from_minor(self.amount_minor)

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None


class Introduction(Model):
    """A proposed introduction between two organisations; contacts shown once both accept."""

    __tablename__ = "introduction"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    first_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    second_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    first_bid_id: Mapped[int | None] = mapped_column(ForeignKey("bid.id", ondelete="SET NULL"))
    second_bid_id: Mapped[int | None] = mapped_column(ForeignKey("bid.id", ondelete="SET NULL"))
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Who accepted for each side: their name and email are the contact details shared.
    first_contact_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    second_contact_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    first_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    second_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    declined_at: Mapped[datetime | None] = mapped_column(DateTime)

    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    first_org: Mapped[Organisation] = relationship(foreign_keys=[first_org_id])
    second_org: Mapped[Organisation] = relationship(foreign_keys=[second_org_id])
    first_bid: Mapped[Bid | None] = relationship(foreign_keys=[first_bid_id])
    second_bid: Mapped[Bid | None] = relationship(foreign_keys=[second_bid_id])
    first_contact: Mapped[User | None] = relationship(foreign_keys=[first_contact_id])
    second_contact: Mapped[User | None] = relationship(foreign_keys=[second_contact_id])

    @property
    def is_mutual(self) -> bool:
        return bool(self.first_accepted_at and self.second_accepted_at and not self.declined_at)

    @property
    def status(self) -> str:
        if self.declined_at:
            return "declined"
        if self.is_mutual:
            return "accepted"
        return "waiting"


class NoticeSubject(enum.StrEnum):
    """What a notification is about; the web layer turns it and `subject_id` into a link."""

    NONE = ""
    POOL = "pool"
    POOL_INVITATION = "pool_invitation"
    INTRODUCTION = "introduction"
    BID_PLEDGES = "bid_pledges"  # the pledges an applicant may see on its own bid


class Notification(Model):
    """One item in a user's inbox: data (what it is about), never a URL."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))  # invitation, introduction, pledge
    text: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(30), default=NoticeSubject.NONE)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class OverlapCluster(Model):
    """A group of published bids from several organisations whose texts overlap strongly.

    `id` is the smallest member bid id (not autoincremented), so a refresh over
    unchanged data gives the same ids; `signature` is the sorted member ids.
    The other columns are aggregates the dashboard reads without joining bids.
    """

    __tablename__ = "overlap_cluster"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    signature: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    organisation_count: Mapped[int] = mapped_column(Integer)
    top_score: Mapped[float] = mapped_column(Float)
    mean_score: Mapped[float] = mapped_column(Float)
    funder_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # {"GBP": 54000000, ...}: totals are never added across currencies.
    requested_minor: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    statuses: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(500), default="")
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[OverlapClusterMember]] = relationship(
        back_populates="cluster",
        cascade="all, delete-orphan",
        order_by="OverlapClusterMember.bid_id",
    )


class OverlapClusterMember(Model):
    __tablename__ = "overlap_cluster_member"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("overlap_cluster.id", ondelete="CASCADE"), primary_key=True
    )
    bid_id: Mapped[int] = mapped_column(
        ForeignKey("bid.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column(Float, default=0.0)  # its strongest edge in the cluster

    cluster: Mapped[OverlapCluster] = relationship(back_populates="members")
    bid: Mapped[Bid] = relationship()


class DuplicatePair(Model):
    """Near-identical texts from one organisation (the same project sent to several funders)."""

    __tablename__ = "duplicate_pair"

    first_bid_id: Mapped[int] = mapped_column(
        ForeignKey("bid.id", ondelete="CASCADE"), primary_key=True
    )
    second_bid_id: Mapped[int] = mapped_column(
        ForeignKey("bid.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
