"""ORM models of the report: social-metric snapshots, the lead rollups and the per-source day
and month rollups the report reads, and the report time zone's UTC offsets."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = [
    "METRIC_FIELDS",
    "LeadRollup",
    "ReportDay",
    "ReportMonth",
    "ReportZoneOffset",
    "SocialMetric",
]

METRIC_FIELDS = ("likes", "followers", "impressions", "comments", "shares")
"""The numbers of a snapshot, in the documented CSV order; each may be unknown (NULL)."""


class SocialMetric(Base):
    """One day of a platform's numbers for a handle (likes, followers, …), as the owner sent them.

    A number that was never sent is NULL (unknown), not 0: the report tells the two apart.
    """

    __tablename__ = "social_metrics"
    __table_args__ = (
        UniqueConstraint("handle_id", "platform", "day"),
        CheckConstraint(
            " AND ".join(f"({name} IS NULL OR {name} >= 0)" for name in METRIC_FIELDS),
            name="counts_not_negative",
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    handle_id: Mapped[int] = mapped_column(IdType, ForeignKey("handles.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    impressions: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comments: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shares: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LeadRollup(Base):
    """Leads per creation day (in the report time zone), handle, page and source, and how many
    of them confirmed or became customers. Kept equal to the `leads` rows by database triggers
    on every insert, update and delete, whichever code path writes the lead."""

    __tablename__ = "lead_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    page_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_leads: Mapped[int] = mapped_column(Integer, default=0)
    customers: Mapped[int] = mapped_column(Integer, default=0)


class _SourceTotals:
    """The counts of the per-source rollups (visits from `visit_rollups`, leads from
    `lead_rollups`, likes from `social_metrics`), maintained from those by database triggers."""

    visits: Mapped[int] = mapped_column(Integer, default=0)
    unique_visitors: Mapped[int] = mapped_column(Integer, default=0)
    previews: Mapped[int] = mapped_column(Integer, default=0)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_leads: Mapped[int] = mapped_column(Integer, default=0)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    # Likes from the social-metric snapshots: the sum of the known ones, and how many were
    # known (0 known means unknown, which the report shows as null, not as 0 likes).
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    likes_known: Mapped[int] = mapped_column(Integer, default=0)


class ReportDay(_SourceTotals, Base):
    """Per day, handle and source (pages added up): what day and source reports read."""

    __tablename__ = "report_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)


class ReportMonth(_SourceTotals, Base):
    """Per calendar month (its first day), handle and source: a year is read in 12 rows per
    handle and source instead of 365."""

    __tablename__ = "report_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)


class ReportZoneOffset(Base):
    """The UTC offsets of the report time zone from `starts` on, one row per change: how the
    lead triggers find a lead's local day (SQLite has no time-zone database)."""

    __tablename__ = "report_zone_offsets"

    starts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    offset_seconds: Mapped[int] = mapped_column(Integer)
