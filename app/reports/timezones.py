"""Local days of the reporting time zone, in SQL, on a database with a time-zone database
(PostgreSQL) and on one without (SQLite).

PostgreSQL computes a timestamp's local day itself: `(created_at AT TIME ZONE :tz)::date`.
SQLite has no time-zone rules, so Python (zoneinfo) finds the UTC offsets in force over the
instants a query reads, and the SQL applies them: `date(created_at, '+19800 seconds')`, or a
`CASE` over the few offset changes (DST transitions) inside the range. Ranges of local days are
always filtered as UTC instants `[start 00:00, end + 1 00:00)` in the zone, on both databases,
so an index on `created_at` serves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Date, Integer, String, bindparam, case, cast, extract, func, type_coerce
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.db import UTCDateTime

__all__ = [
    "OffsetSegment",
    "local_day_params",
    "local_day_sql",
    "local_midnight_utc",
    "offset_segments",
    "utc_bounds",
    "week_start",
    "week_start_sql",
    "zone",
]

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OffsetSegment:
    """From `starts` (a UTC instant) until the next segment, local time is UTC + `offset`."""

    starts: datetime
    offset: timedelta


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; a `ValueError` naming it when the zone database does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (LEADLINK_REPORT_TZ)") from exc


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `tz`.

    Where midnight falls into a DST gap, fold=0 applies the offset in force before the gap,
    which lands exactly on the transition: the first instant of that local day.
    """
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def utc_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants `[start 00:00, end + 1 00:00)` of the local days `start..end`."""
    return local_midnight_utc(start, tz), local_midnight_utc(end + _DAY, tz)


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant in (before, after] with the offset of `after` (bisection to 1 s)."""
    target = _offset(tz, after)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(tz, middle) == target:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


@lru_cache(maxsize=512)
def offset_segments(tz: ZoneInfo, low: datetime, high: datetime) -> tuple[OffsetSegment, ...]:
    """The UTC offsets of `tz` over the instants `[low, high]`, one segment per offset change.

    Offsets are sampled once a day and each change is bisected to the second, which finds every
    transition of the zone database (none are less than a day apart). A year has at most a
    handful of segments.
    """
    segments = [OffsetSegment(low, _offset(tz, low))]
    previous = low
    while previous < high:
        sample = min(previous + _DAY, high)
        if _offset(tz, sample) != segments[-1].offset:
            segments.append(OffsetSegment(_transition(tz, previous, sample), _offset(tz, sample)))
        previous = sample
    return tuple(segments)


def _seconds_modifier(offset: timedelta) -> str:
    return f"{int(offset.total_seconds()):+d} seconds"


def local_day_params(
    dialect: str, tz: ZoneInfo, low: datetime, high: datetime
) -> tuple[int, dict[str, Any]]:
    """The bound values `local_day_sql` needs for instants in [low, high]: the number of
    offset segments (part of the statement's shape) and the parameters."""
    if dialect == "postgresql":
        return 0, {"tz": tz.key}
    segments = offset_segments(tz, low, high)
    params: dict[str, Any] = {
        f"offset_{n}": _seconds_modifier(s.offset) for n, s in enumerate(segments)
    }
    params.update({f"change_{n}": s.starts for n, s in enumerate(segments) if n})
    return len(segments), params


def local_day_sql(
    column: ColumnElement[datetime] | QueryableAttribute[datetime], dialect: str, segments: int
) -> ColumnElement[date]:
    """SQL for the local day of a UTC timestamp column, with the bound parameters of
    `local_day_params` (`segments` is the count it returned)."""
    if dialect == "postgresql":
        return cast(func.timezone(bindparam("tz", type_=String), column), Date)
    # SQLite's date functions round to milliseconds, which would move 23:59:59.9999 to the next
    # day: the stored text is cut to whole seconds first (a floor, as the day needs).
    seconds = func.substr(column, 1, 19)

    def shifted(n: int) -> ColumnElement[Any]:
        return func.date(seconds, bindparam(f"offset_{n}", type_=String))

    if segments == 1:
        return type_coerce(shifted(0), Date)
    # Each WHEN compares with the next offset change; the stored text sorts like the instants.
    whens = [
        (column < bindparam(f"change_{n + 1}", type_=UTCDateTime), shifted(n))
        for n in range(segments - 1)
    ]
    return type_coerce(case(*whens, else_=shifted(segments - 1)), Date)


def week_start_sql(day: ColumnElement[date], dialect: str) -> ColumnElement[date]:
    """SQL for the Monday that starts the ISO week of a date expression."""
    if dialect == "postgresql":
        return type_coerce(day - (cast(extract("isodow", day), Integer) - 1), Date)
    # Back six days, then forward to the next Monday (or stay on it).
    return type_coerce(func.date(day, "-6 days", "weekday 1"), Date)


def week_start(day: date) -> date:
    """The Monday that starts the ISO week of `day`."""
    return day - timedelta(days=day.weekday())
