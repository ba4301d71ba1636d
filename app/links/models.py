"""ORM models of the one link: the routes of handles, visits, the daily visit rollups and the
record of pruned raw visits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = [
    "EXTERNAL_PAGE_ID",
    "Route",
    "VariantRollup",
    "Visit",
    "VisitPrune",
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

    Raw rows are kept `LEADLINK_VISIT_RETENTION_DAYS` (`app.links.retention`); every figure shown
    comes from the rollups, which are kept forever. On PostgreSQL the table is partitioned by
    month of `day` (`app.links.partitions`), and a partitioned table's keys must contain the
    partition key: there the primary key is (id, day) and `ref` is unique together with `day`
    (a ref is made once, with its day, so that is as unique as `ref` alone).
    """

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("kind IN ('visit', 'preview')", name="kind"),
        Index("ix_visits_handle_id_day", "handle_id", "day"),
        UniqueConstraint("ref", name="uq_visits_ref").ddl_if(dialect="sqlite"),
        UniqueConstraint("ref", "day", name="uq_visits_ref_day").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ref: Mapped[str] = mapped_column(String(24))
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


class VariantRollup(Base):
    """Daily visits per A/B variant: (day, handle, route, source), kept with `VisitRollup` in the
    same transaction as the visits they count, so the variants report needs no raw rows.
    A visit without a route (the handle's default page) has no row here.
    """

    __tablename__ = "variant_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True
    )
    route_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)


class VisitPrune(Base):
    """One run of the raw-visit pruning per (UTC) day: the row claims the day's run, so that of
    several workers only one prunes, and `kept_from` says from which day on raw rows are
    complete (rows of earlier days are gone, or going): a rollup rebuild keeps the rollups of
    those days instead of recounting them from rows that are no longer there.
    """

    __tablename__ = "visit_prunes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kept_from: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    visits_deleted: Mapped[int] = mapped_column(Integer, default=0)
    partitions_dropped: Mapped[int] = mapped_column(Integer, default=0)


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
