"""From a platform's running totals to the report's daily likes and followers.

A platform such as YouTube or TikTok gives totals (likes per video, followers now), not what
happened on a day. Each day's reading is kept as a snapshot (`PlatformSnapshot`, one per
connection and day) and the day's likes are the **growth** since the previous snapshot:

- per video: a new video counts all its likes, a video that went down counts 0, a video gone
  from the reading (deleted, made private, past the read cap) counts nothing; so a deleted
  video never makes a day's likes negative;
- followers are the level read that day;
- the first snapshot of a connection has no earlier reading: its likes are unknown (NULL),
  its followers known;
- a **missed day** (the worker was down; a gap of N days since the previous snapshot): the growth
  is split evenly over the N days, the remainder on the last one, so the total of any range
  stays exact; the missed days' followers stay unknown;
- reading the **same day again** replaces that day's snapshot and compares with the same earlier
  reading as before, so nothing is counted twice.

The derived days are written into `social_metrics` (the report's table) for the connection's
one handle, with the same upsert the API and the CSV import use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.platforms.models import PlatformSnapshot
from app.platforms.readings import DailyValues, Totals
from app.reports.social_metrics import MAX_METRIC_VALUE, MetricSnapshot, upsert_social_metrics

__all__ = [
    "DerivedDay",
    "StaleReading",
    "derived_days",
    "growth",
    "spread",
    "store_daily_values",
    "store_totals",
]


class StaleReading(Exception):
    """A reading for a day before the newest snapshot (a clock gone backwards): not stored."""


@dataclass(frozen=True, slots=True)
class DerivedDay:
    day: date
    likes: int | None
    followers: int | None


def growth(baseline: Mapping[str, int], current: Mapping[str, int]) -> int:
    """Likes gained between two readings, per item: new items count all their likes, items that
    went down count 0, items no longer read count nothing."""
    return sum(max(0, likes - baseline.get(item, 0)) for item, likes in current.items())


def spread(total: int, days: int) -> list[int]:
    """`total` over `days` days, oldest first: equal parts, the remainder on the last day."""
    part, rest = divmod(total, days)
    return [part] * (days - 1) + [part + rest]


def derived_days(snapshot: PlatformSnapshot) -> list[DerivedDay]:
    """The report's days a snapshot decides: its own, and the missed days before it."""
    if snapshot.likes_gained is None or not snapshot.gap_days:
        return [DerivedDay(snapshot.day, None, snapshot.followers)]
    gap = snapshot.gap_days
    parts = spread(snapshot.likes_gained, gap)
    first = snapshot.day - timedelta(days=gap - 1)
    return [
        DerivedDay(
            first + timedelta(days=index),
            likes,
            snapshot.followers if index == gap - 1 else None,
        )
        for index, likes in enumerate(parts)
    ]


def _capped(value: int | None) -> int | None:
    return None if value is None else max(0, min(value, MAX_METRIC_VALUE))


async def _newest(session: AsyncSession, connection_id: int) -> PlatformSnapshot | None:
    return await session.scalar(
        select(PlatformSnapshot)
        .where(PlatformSnapshot.connection_id == connection_id)
        .order_by(PlatformSnapshot.day.desc())
        .limit(1)
        .with_for_update()
    )


async def store_totals(
    session: AsyncSession,
    *,
    connection_id: int,
    handle_id: int,
    platform: str,
    day: date,
    totals: Totals,
    now: datetime,
) -> PlatformSnapshot:
    """Keep `totals` as the connection's snapshot of `day` and write the days it decides into
    `social_metrics`. `StaleReading` when a later day is stored already."""
    current = {str(item): max(0, int(likes)) for item, likes in totals.likes_by_item.items()}
    newest = await _newest(session, connection_id)
    if newest is not None and newest.day > day:
        raise StaleReading(f"a reading of {newest.day} is stored already")
    if newest is not None and newest.day == day:
        snapshot = newest  # a re-read: compare with the same earlier reading as before
        baseline = newest.baseline_by_item
    else:
        snapshot = PlatformSnapshot(connection_id=connection_id, day=day)
        baseline = newest.likes_by_item if newest is not None else None
        snapshot.gap_days = (day - newest.day).days if newest is not None else None
        if newest is not None:  # only the newest snapshot keeps per-item counts
            newest.likes_by_item = None
            newest.baseline_by_item = None
        session.add(snapshot)
    snapshot.followers = _capped(totals.followers)
    snapshot.likes_total = sum(current.values())
    snapshot.items = len(current)
    snapshot.likes_gained = growth(baseline, current) if baseline is not None else None
    if baseline is None:
        snapshot.gap_days = None
    snapshot.likes_by_item = current
    snapshot.baseline_by_item = baseline
    snapshot.read_at = now
    await session.flush()
    await upsert_social_metrics(
        session,
        [
            MetricSnapshot(
                handle_id=handle_id,
                platform=platform,
                day=derived.day,
                likes=_capped(derived.likes),
                followers=derived.followers,
            )
            for derived in derived_days(snapshot)
        ],
    )
    return snapshot


async def store_daily_values(
    session: AsyncSession, *, handle_id: int, platform: str, values: DailyValues
) -> int:
    """Numbers per day as a platform's insights give them (Instagram, Facebook Pages): written
    as they are; a re-read day replaces the numbers it carries, an unknown one keeps what was
    stored."""
    return await upsert_social_metrics(
        session,
        [
            MetricSnapshot(
                handle_id=handle_id,
                platform=platform,
                day=day,
                likes=_capped(numbers.likes),
                followers=_capped(numbers.followers),
                impressions=_capped(numbers.impressions),
                comments=_capped(numbers.comments),
                shares=_capped(numbers.shares),
            )
            for day, numbers in sorted(values.days.items())
        ],
    )
