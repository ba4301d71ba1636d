"""ORM models of the one link: the routes of handles, visits and the daily visit rollups."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = [
    "EXTERNAL_PAGE_ID",
    "Route",
    "Visit",
    "VisitRollup",
    "VisitorDay",
    "VisitorSalt",
]

# Rollups and unique-visitor rows key visits to an external URL (no page) under page 0.
EXTERNAL_PAGE_ID = 0


class Route(Base):
    """A routing rule of a handle: visitors of `source` (or of any source, when NULL) go to a page
    or an external URL. Several routes for the same source are weighted A/B variants.
    """

    __tablename__ = "routes"
    __table_args__ = (
        CheckConstraint("(page_id IS NULL) <> (target_url IS NULL)", name="page_or_url"),
        CheckConstraint("weight >= 0 AND weight <= 10000", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    variant: Mapped[str] = mapped_column(String(32))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    page_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("pages.id", ondelete="CASCADE"), nullable=True
    )
    target_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Visit(Base):
    """One human visit (`kind='visit'`) or link preview (`kind='preview'`), append-only.

    No IP address is stored: `visitor_hash` is a hash of IP and User-Agent with a salt that is
    thrown away after its day, good for counting unique visitors within a day and nothing else.
    """

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("kind IN ('visit', 'preview')", name="kind"),
        Index("ix_visits_handle_id_day", "handle_id", "day"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ref: Mapped[str] = mapped_column(String(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    handle_id: Mapped[int] = mapped_column(IdType, ForeignKey("handles.id", ondelete="CASCADE"))
    page_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("pages.id", ondelete="SET NULL"), nullable=True
    )
    route_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("routes.id", ondelete="SET NULL"), nullable=True
    )
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    medium: Mapped[str | None] = mapped_column(String(100), nullable=True)
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    content: Mapped[str | None] = mapped_column(String(100), nullable=True)
    rule: Mapped[str] = mapped_column(String(20))
    raw_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    referrer_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    in_app_browser: Mapped[str | None] = mapped_column(String(32), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device_class: Mapped[str] = mapped_column(String(8))
    visitor_hash: Mapped[str] = mapped_column(String(32))


class VisitRollup(Base):
    """Daily counts per (day, handle, page, source), written in the same transaction as the
    visits they count, so they always equal the raw rows. `page_id` 0 means an external URL.
    """

    __tablename__ = "visit_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    page_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    unique_visitors: Mapped[int] = mapped_column(Integer, default=0)
    previews: Mapped[int] = mapped_column(Integer, default=0)


class VisitorDay(Base):
    """Which hashed visitors were already counted for a rollup row: the unique-visitor ledger.

    Rows older than a few days are pruned; a rebuild recounts from `visits`.
    """

    __tablename__ = "visitor_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    page_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(32), primary_key=True)


class VisitorSalt(Base):
    """The random salt of one day's visitor hashes, shared by every replica, deleted after."""

    __tablename__ = "visitor_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
