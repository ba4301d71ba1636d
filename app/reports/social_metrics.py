"""Social-metric snapshots (likes, followers, … per handle, platform and day): idempotent
upserts from the API, the CSV import, and keyset pages of them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.handles.exceptions import HandleNotFound
from app.handles.models import Handle
from app.handles.names import can_name_a_handle, handle_key
from app.handles.visibility import Sight, sees, visible_only
from app.links.sources import CANONICAL_SOURCES, canonical_source
from app.pagination import CursorCodec, InvalidCursor
from app.reports.exceptions import InvalidReportInput
from app.reports.models import (
    METRIC_FIELDS,
    SocialMetric,
)
from app.reports.service import FIRST_DAY, LAST_DAY

__all__ = [
    "CSV_COLUMNS",
    "HANDLE_COLUMN",
    "MAX_METRIC_VALUE",
    "ImportResult",
    "MetricPage",
    "MetricSnapshot",
    "check_metric_value",
    "check_platform",
    "import_social_metrics_csv",
    "list_social_metrics",
    "parse_metric_day",
    "parse_metric_number",
    "replace_day_metrics",
    "upsert_named_social_metrics",
    "upsert_social_metrics",
]

MAX_METRIC_VALUE = 10**15
CSV_COLUMNS = ("date", "platform", *METRIC_FIELDS)
# An optional column naming each row's handle; without it (or with the cell empty) a row belongs
# to the handle the import was given.
HANDLE_COLUMN = "handle"


@dataclass(frozen=True, slots=True)
class MetricSnapshot:
    """One day of one platform's numbers for a handle; None means unknown."""

    handle_id: int
    platform: str
    day: date
    likes: int | None = None
    followers: int | None = None
    impressions: int | None = None
    comments: int | None = None
    shares: int | None = None

    @property
    def key(self) -> tuple[int, str, date]:
        return (self.handle_id, self.platform, self.day)

    def merged_with(self, later: MetricSnapshot) -> MetricSnapshot:
        """This snapshot with the numbers `later` knows taken from `later`."""
        known = {name: getattr(later, name) for name in METRIC_FIELDS}
        return replace(self, **{name: v for name, v in known.items() if v is not None})


def check_platform(value: str, field_name: str = "platform") -> str:
    """The canonical source name `value` stands for (aliases like `ig` allowed)."""
    platform = canonical_source(value)
    if platform is None:
        raise InvalidReportInput(
            field_name,
            f"{value[:40]!r} is not a platform; use one of: {', '.join(CANONICAL_SOURCES)}.",
        )
    return platform


def check_metric_value(value: int | None, field_name: str) -> int | None:
    if value is not None and not 0 <= value <= MAX_METRIC_VALUE:
        raise InvalidReportInput(
            field_name, f"{field_name} must be between 0 and {MAX_METRIC_VALUE}."
        )
    return value


def _upsert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert


async def upsert_social_metrics(
    session: AsyncSession, snapshots: Iterable[MetricSnapshot], *, replace: bool = False
) -> int:
    """Store snapshots idempotently by (handle, platform, day); returns how many keys were written.

    A number a snapshot carries replaces the stored one; a number it leaves out (None) keeps what
    was stored, so sending likes today and followers tomorrow for the same day keeps both. The
    same key twice in one batch is merged in order, so the batch equals sending them one by one.
    With `replace`, a snapshot replaces its stored day whole: a number it leaves out is unknown
    again (the owner's form, which shows every number of the day, saves this way).
    """
    merged: dict[tuple[int, str, date], MetricSnapshot] = {}
    for snapshot in snapshots:
        earlier = merged.get(snapshot.key)
        merged[snapshot.key] = earlier.merged_with(snapshot) if earlier else snapshot
    if not merged:
        return 0
    now = utcnow()
    insert = _upsert(session)
    rows = [
        {
            "handle_id": s.handle_id,
            "platform": s.platform,
            "day": s.day,
            **{name: getattr(s, name) for name in METRIC_FIELDS},
            "updated_at": now,
        }
        for s in sorted(merged.values(), key=lambda s: s.key)  # one lock order for all writers
    ]
    # One statement, executed for every row (the driver's executemany).
    statement = insert(SocialMetric.__table__)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["handle_id", "platform", "day"],
        set_={
            **{
                name: excluded[name]
                if replace
                else func.coalesce(excluded[name], SocialMetric.__table__.c[name])
                for name in METRIC_FIELDS
            },
            "updated_at": excluded.updated_at,
        },
    )
    connection = await session.connection()
    await connection.execute(statement, rows)
    return len(rows)


async def upsert_named_social_metrics(
    session: AsyncSession,
    items: Sequence[Mapping[str, Any]],
    *,
    visible: Collection[int] | None,
) -> int:
    """The API's batch: snapshots naming their handle (`handle`, `platform`, `date` and the
    numbers). A handle that is unknown or out of the key's sight is a 404 for the whole batch,
    before anything is written."""
    names = {handle_key(str(item["handle"])) for item in items}
    possible = sorted(name for name in names if can_name_a_handle(name))
    found = dict(
        (
            await session.execute(select(Handle.name, Handle.id).where(Handle.name.in_(possible)))
        ).all()
    )
    for name in sorted(names):
        if name not in found or not sees(visible, found[name]):
            raise HandleNotFound(name)
    return await upsert_social_metrics(
        session,
        (
            MetricSnapshot(
                handle_id=found[handle_key(str(item["handle"]))],
                platform=check_platform(str(item["platform"])),
                day=item["date"],
                **{name: check_metric_value(item.get(name), name) for name in METRIC_FIELDS},
            )
            for item in items
        ),
    )


async def replace_day_metrics(
    session: AsyncSession, handle_id: int, day: date, snapshots: Sequence[MetricSnapshot]
) -> int:
    """Make `snapshots` the whole of a handle's day: each platform given replaces its stored
    numbers (`upsert_social_metrics(replace=True)`), a platform not given is forgotten (its
    numbers become unknown). Returns how many platforms the day now has."""
    if any(s.handle_id != handle_id or s.day != day for s in snapshots):
        raise ValueError("every snapshot must be of the handle and day being replaced")
    kept = [s.platform for s in snapshots]
    await session.execute(
        delete(SocialMetric)
        .where(
            SocialMetric.handle_id == handle_id,
            SocialMetric.day == day,
            SocialMetric.platform.not_in(kept),
        )
        .execution_options(synchronize_session=False)
    )
    return await upsert_social_metrics(session, snapshots, replace=True)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a CSV import kept, and each line it could not use (1-based line numbers)."""

    imported: int
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _CsvRow:
    line: int
    handle_name: str | None  # the row's `handle` cell; None: the import's handle
    snapshot: MetricSnapshot  # handle_id 0 until the name is resolved


_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")


def parse_metric_number(raw: str, column: str) -> int | None:
    """A count as a person types it (`1200`, `1,200`, `1 200`), None when empty (unknown);
    `ValueError` with a sentence naming `column` otherwise."""
    value = raw.strip().replace("_", "").replace(" ", "")
    if not value:
        return None
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"{column} must be a whole number of 0 or more, not {raw.strip()[:40]!r}")
    number = int(value.replace(",", ""))
    if number > MAX_METRIC_VALUE:
        raise ValueError(f"{column} is larger than {MAX_METRIC_VALUE}")
    return number


def parse_metric_day(raw: str) -> date:
    """A snapshot's day, `YYYY-MM-DD` within the report's years; `ValueError` otherwise."""
    value = raw.strip()
    try:
        if len(value) != 10:
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, not {value[:40]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"date must be between {FIRST_DAY} and {LAST_DAY}, not {value}")
    return day


def _csv_header(cells: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    missing = [name for name in ("date", "platform") if name not in names]
    unknown = [name for name in names if name not in (*CSV_COLUMNS, HANDLE_COLUMN)]
    if missing or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"the first line must be the header {','.join(CSV_COLUMNS)} "
            f"(date and platform required, the numbers and a {HANDLE_COLUMN} column optional, "
            "in any order)"
        )
    return names


def _no_progress() -> None:
    return None


async def import_social_metrics_csv(
    session: AsyncSession,
    handle: Handle | None,
    text: str,
    *,
    visible: Sight = None,
    all_or_nothing: bool = False,
    line_done: Callable[[], None] = _no_progress,
) -> ImportResult:
    """Import `date,platform,likes,followers,impressions,comments,shares` rows.

    A row belongs to `handle`, or to the handle its optional `handle` column names: one that is
    unknown or out of `visible` is an error of that line ("no handle 'bob'"), like a bad number.
    Good rows are kept and bad ones reported by line number, or with `all_or_nothing` nothing is
    stored when any line is bad. An empty number is unknown. Importing the same file again
    changes nothing (an upsert by handle, platform and day). `line_done` is called per CSV
    record read, and once more when the rows are stored.
    """
    rows, errors = _read_csv(text, line_done)
    snapshots = await _with_handles(session, rows, handle, visible, errors)
    errors.sort(key=lambda error: error[0])
    if errors and all_or_nothing:
        line_done()
        return ImportResult(imported=0, errors=errors)
    await upsert_social_metrics(session, snapshots)
    line_done()
    return ImportResult(imported=len(snapshots), errors=errors)


def _read_csv(
    text: str, line_done: Callable[[], None]
) -> tuple[list[_CsvRow], list[tuple[int, str]]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header: list[str] | None = None
    rows: list[_CsvRow] = []
    errors: list[tuple[int, str]] = []
    try:
        for cells in reader:
            line_done()
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            try:
                if header is None:
                    header = _csv_header(cells)
                    continue
                rows.append(_csv_row(line, header, cells))
            except ValueError as exc:
                errors.append((line, str(exc)))
                if header is None:
                    return [], errors
    except csv.Error as exc:
        errors.append((reader.line_num, f"not readable as CSV: {exc}"))
    if header is None and not errors:
        errors.append((1, "the file is empty; expected the header " + ",".join(CSV_COLUMNS)))
    return rows, errors


async def _with_handles(
    session: AsyncSession,
    rows: list[_CsvRow],
    handle: Handle | None,
    visible: Sight,
    errors: list[tuple[int, str]],
) -> list[MetricSnapshot]:
    """The rows' snapshots with their handle ids; a row whose handle is unknown, out of sight
    or missing is added to `errors` instead (one query for all the names)."""
    names = {handle_key(row.handle_name) for row in rows if row.handle_name}
    names = {name for name in names if can_name_a_handle(name)}
    found: dict[str, int] = {}
    if names:
        found = dict(
            (
                await session.execute(
                    select(Handle.name, Handle.id).where(Handle.name.in_(sorted(names)))
                )
            ).all()
        )
    snapshots: list[MetricSnapshot] = []
    for row in rows:
        if row.handle_name:
            handle_id = found.get(handle_key(row.handle_name))
            if handle_id is None or not sees(visible, handle_id):
                errors.append((row.line, f"no handle {row.handle_name.strip()[:40]!r}"))
                continue
        elif handle is not None:
            handle_id = handle.id
        else:
            errors.append((row.line, f"no handle: fill the {HANDLE_COLUMN} column"))
            continue
        snapshots.append(replace(row.snapshot, handle_id=handle_id))
    return snapshots


def _csv_row(line: int, header: list[str], cells: list[str]) -> _CsvRow:
    if len(cells) > len(header):
        raise ValueError(f"{len(cells)} values for {len(header)} columns")
    values = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=True))
    platform = canonical_source(values["platform"])
    if platform is None:
        raise ValueError(f"unknown platform {values['platform'].strip()[:40]!r}")
    snapshot = MetricSnapshot(
        handle_id=0,
        platform=platform,
        day=parse_metric_day(values["date"]),
        **{name: parse_metric_number(values.get(name, ""), name) for name in METRIC_FIELDS},
    )
    return _CsvRow(line, values.get(HANDLE_COLUMN, "").strip() or None, snapshot)


@dataclass(frozen=True, slots=True)
class MetricPage:
    """One page of stored snapshots with their handle names, and the next page's cursor."""

    items: list[tuple[SocialMetric, str]]
    next_cursor: str | None


METRICS_ORDERING = "social-metrics-day-id"


async def list_social_metrics(
    session: AsyncSession,
    *,
    visible: Collection[int] | None,
    codec: CursorCodec,
    handle_id: int | None = None,
    platform: str | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> MetricPage:
    """Snapshots ordered by (day, id), keyset-paginated; `visible` None means every handle."""
    query = (
        select(SocialMetric, Handle.name)
        .join(Handle, Handle.id == SocialMetric.handle_id)
        .order_by(SocialMetric.day, SocialMetric.id)
        .limit(limit + 1)
    )
    query = query.where(visible_only(SocialMetric.handle_id, visible))
    if handle_id is not None:
        query = query.where(SocialMetric.handle_id == handle_id)
    if platform is not None:
        query = query.where(SocialMetric.platform == platform)
    if start is not None:
        query = query.where(SocialMetric.day >= start)
    if end is not None:
        query = query.where(SocialMetric.day <= end)
    if cursor is not None:
        raw_day, raw_id = codec.decode(cursor, METRICS_ORDERING, 2)
        try:
            after_day, after_id = date.fromisoformat(str(raw_day)), int(raw_id)
        except ValueError:
            raise InvalidCursor from None
        query = query.where(
            or_(
                SocialMetric.day > after_day,
                and_(SocialMetric.day == after_day, SocialMetric.id > after_id),
            )
        )
    rows = [(metric, name) for metric, name in (await session.execute(query)).all()]
    if len(rows) <= limit:
        return MetricPage(items=rows, next_cursor=None)
    rows = rows[:limit]
    last = rows[-1][0]
    return MetricPage(rows, codec.encode(METRICS_ORDERING, [last.day.isoformat(), last.id]))
