"""ORM model of the platforms' daily snapshots: the running totals a connector read on a day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["PlatformSnapshot"]


class PlatformSnapshot(Base):
    """One day's reading of a platform connection's running totals (followers, likes per video).

    Unique per connection and day: reading the same day again replaces its snapshot, never adds
    one. `likes_gained` is the growth since the previous snapshot (`gap_days` before), the
    number the report's daily likes are derived from (`app.platforms.likes`); None on the first
    snapshot, whose day has no earlier reading to compare with.

    Only the newest snapshot keeps the per-video counts (`likes_by_item`) and those of the
    snapshot it was compared with (`baseline_by_item`): the next day is compared with the first,
    a re-read of the same day with the second, so a re-read gives the same growth and a deleted
    video (gone from the newer reading) lowers nothing. Older snapshots keep their totals only.
    """

    __tablename__ = "platform_snapshots"
    __table_args__ = (UniqueConstraint("connection_id", "day"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("connections.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date)
    followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    likes_total: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[int] = mapped_column(Integer)
    likes_gained: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gap_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    likes_by_item: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    baseline_by_item: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
