"""The monthly partitions of `visits` on PostgreSQL: which exist, making the coming months' ahead
of time, and dropping a whole month (app/links/retention.py decides which).

The migration `…_0011_visit_retention` partitions the table by range of `day`, one partition per
calendar month named `visits_YYYY_MM`, plus `visits_default`, which takes any row that no month's
partition covers, so that an insert never fails for want of one. The worker keeps this month and
the next `MONTHS_AHEAD` ready; rows that reached the DEFAULT partition anyway (no worker ran for
months) move into their month's partition when it is made.

Only one process changes partitions at a time (an advisory lock), and each change waits at most
`LOCK_TIMEOUT` for the table: making a partition or dropping one briefly locks `visits` against
the visit writer, whose buffer holds the visits meanwhile; a change that cannot get the lock is
tried again at the next run instead of queueing every writer behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "MONTHS_AHEAD",
    "Partition",
    "drop_month",
    "ensure_months",
    "is_partitioned",
    "month_partitions",
    "month_start",
    "partition_name",
]

MONTHS_AHEAD = 3
LOCK_TIMEOUT = "5s"
DEFAULT_PARTITION = "visits_default"
# One key for every leadlink process (the bytes of "llvp"): partitions change one process at a time.
ADVISORY_LOCK_KEY = 0x6C6C7670
_BOUNDS = re.compile(r"FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """A month's partition: the rows with `start <= day < end`."""

    name: str
    start: date
    end: date


def month_start(day: date, months_later: int = 0) -> date:
    """The first day of `day`'s month, or of the month `months_later` after it."""
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"visits_{month.year:04d}_{month.month:02d}"


async def is_partitioned(session: AsyncSession) -> bool:
    """Whether `visits` is a partitioned table (PostgreSQL after the 0011 migration)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    kind = await session.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('visits')")
    )
    return bool(kind == "p")


async def month_partitions(session: AsyncSession) -> list[Partition]:
    """The month partitions of `visits`, oldest first (the DEFAULT partition is not one)."""
    rows = await session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('visits')"
        )
    )
    partitions = []
    for name, bounds in rows.all():
        found = _BOUNDS.fullmatch(bounds or "")
        if found:
            start, end = (date.fromisoformat(value) for value in found.groups())
            partitions.append(Partition(name, start, end))
    return sorted(partitions, key=lambda partition: partition.start)


async def _take_turn(session: AsyncSession) -> None:
    """Wait for other processes changing partitions; fail fast on the table's own lock."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


async def ensure_months(
    session: AsyncSession, today: date, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Make the partitions of `today`'s month and the `months_ahead` after it that do not exist
    yet; returns the names made. The caller commits."""
    await _take_turn(session)
    existing = {partition.start for partition in await month_partitions(session)}
    made = []
    for offset in range(months_ahead + 1):
        month = month_start(today, offset)
        if month not in existing:
            made.append(await _make_month(session, month))
    return made


async def _make_month(session: AsyncSession, month: date) -> str:
    """A new month's partition, with the rows the DEFAULT partition holds for that month moved
    into it first (attaching it fails while the DEFAULT partition has any)."""
    name = partition_name(month)
    end = month_start(month, 1)
    bounds = {"start": month, "end": end}
    await session.execute(
        text(f"CREATE TABLE {name} (LIKE visits INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    has_default = await session.scalar(text(f"SELECT to_regclass('{DEFAULT_PARTITION}')"))
    if has_default is not None:
        await session.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608 - constant names
                "WHERE day >= :start AND day < :end RETURNING *) "
                f"INSERT INTO {name} SELECT * FROM moved"
            ),
            bounds,
        )
    # Attaching (rather than CREATE … PARTITION OF) locks `visits` less: SHARE UPDATE EXCLUSIVE.
    await session.execute(
        text(
            f"ALTER TABLE visits ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    return name


async def drop_month(session: AsyncSession, partition: Partition) -> int | None:
    """Drop one month's partition; returns the number of rows it held (None when another
    process dropped it first). The caller commits."""
    await _take_turn(session)
    if await session.scalar(text(f"SELECT to_regclass('{partition.name}')")) is None:
        return None
    rows = int(
        await session.scalar(text(f"SELECT count(*) FROM {partition.name}"))  # noqa: S608
        or 0
    )
    await session.execute(text(f"DROP TABLE {partition.name}"))
    return rows
