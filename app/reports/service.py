"""The like-to-lead report: SQL aggregates per source, day, week, page or source and day.

Every number is a SQL aggregate (`GROUP BY`) over rollups that database triggers and the visit
writer keep equal to the raw rows, per day of the report time zone; Python only reads the few
aggregate rows, fills empty days and computes the rates. docs/reports.md defines each number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    join,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.handles.exceptions import HandleNotFound
from app.handles.models import Handle
from app.handles.visibility import sees, visible_only
from app.links import service as links
from app.links.models import EXTERNAL_PAGE_ID, VisitRollup
from app.links.sources import CANONICAL_SOURCES
from app.pages import service as pages
from app.pages.exceptions import PageNotFound
from app.pages.models import Page
from app.reports.exceptions import InvalidReportInput
from app.reports.models import (
    LeadRollup,
    ReportDay,
    ReportMonth,
    SocialMetric,
)
from app.reports.timezones import (
    week_start,
    week_start_sql,
    zone,
)

__all__ = [
    "FIRST_DAY",
    "GROUPINGS",
    "KEY_FIELDS",
    "LAST_DAY",
    "MAX_RANGE_DAYS",
    "ROW_FIELDS",
    "GroupBy",
    "Report",
    "ReportRow",
    "check_day",
    "check_range",
    "conversion_report",
    "leads_by_source_over_time",
    "report_csv",
    "resolve_scope",
    "source_rank",
]

GroupBy = Literal["source", "day", "week", "page", "source,day"]
GROUPINGS: tuple[GroupBy, ...] = get_args(GroupBy)
MAX_RANGE_DAYS = 366
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2100, 12, 31)

ROW_FIELDS = (
    "source",
    "likes",
    "followers",
    "visits",
    "unique_visitors",
    "previews",
    "leads",
    "confirmed_leads",
    "customers",
    "visit_to_lead",
    "like_to_lead",
    "lead_to_customer",
)
"""The fields of every report row, exactly as DESIGN.md ("The report") lists them."""

KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "source": (),
    "day": ("day",),
    "week": ("week",),
    "page": ("page", "page_id"),
    "source,day": ("day",),
}
"""The group-key fields a row has besides `source`, per grouping."""

_SOURCE_ORDER = {name: index for index, name in enumerate(CANONICAL_SOURCES)}


def _rate(numerator: int, denominator: int | None) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One row of the report: a group's funnel from likes to customers."""

    source: str | None
    likes: int | None = None
    followers: int | None = None
    visits: int = 0
    unique_visitors: int = 0
    previews: int = 0
    leads: int = 0
    confirmed_leads: int = 0
    customers: int = 0
    day: date | None = None
    week: date | None = None
    page: str | None = None
    page_id: int | None = None

    @property
    def visit_to_lead(self) -> float | None:
        return _rate(self.leads, self.visits)

    @property
    def like_to_lead(self) -> float | None:
        return _rate(self.leads, self.likes)

    @property
    def lead_to_customer(self) -> float | None:
        return _rate(self.customers, self.leads)

    def fields_for(self, group_by: str) -> dict[str, Any]:
        """The row as DESIGN.md names its fields, after the group-key fields of `group_by`."""
        return {name: getattr(self, name) for name in (*KEY_FIELDS[group_by], *ROW_FIELDS)}


@dataclass(frozen=True, slots=True)
class Report:
    group_by: str
    start: date
    end: date
    rows: list[ReportRow]
    totals: ReportRow


def check_day(day: date, field_name: str) -> date:
    """Days outside 1970 to 2100 are typing mistakes, not data (and would overflow date maths)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidReportInput(
            field_name, f"{field_name} must be between {FIRST_DAY} and {LAST_DAY}."
        )
    return day


def check_range(start: date, end: date) -> None:
    """Refuse a range that ends before it starts or spans more than MAX_RANGE_DAYS days."""
    check_day(start, "from")
    check_day(end, "to")
    if end < start:
        raise InvalidReportInput("to", "to must be on or after from.")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidReportInput("to", f"A report covers at most {MAX_RANGE_DAYS} days.")


@dataclass(frozen=True, slots=True)
class _Shape:
    """Everything that decides the text of the report statement (the values are bound): one
    statement is built per shape and reused, since building it costs more than running it.

    `level` is the rollup read: "pages" (visit_rollups and lead_rollups, per page) for page
    reports, "days" (report_days, pages added up) otherwise, and "months" (report_months for
    the whole months inside the range, report_days for the days around them) for per-source
    reports spanning a whole month.
    """

    group_by: str
    dialect: str
    level: Literal["pages", "days", "months"]
    by_handles: bool  # `handle_id IN :handle_ids`; otherwise every handle
    by_page: bool
    by_source: bool

    def where(self, handle: Any, page: Any, source: Any) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.by_handles:
            conditions.append(handle.in_(bindparam("handle_ids", expanding=True)))
        if self.by_page and page is not None:
            conditions.append(page == bindparam("page_id"))
        if self.by_source:
            conditions.append(source == bindparam("source"))
        return conditions


# The measures every part of the report query yields, in this order (a UNION needs one order).
_COUNTS = ("visits", "unique_visitors", "previews", "leads", "confirmed_leads", "customers")
_MEASURES = (*_COUNTS, "likes", "followers")
_KEYS: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "day": ("day",),
    "week": ("week",),
    "page": ("page_id",),
    "source,day": ("source", "day"),
    "total": (),
}


def _key_columns(
    group_by: str, *, source: Any, day: Any, page: Any, dialect: str
) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = []
    for name in _KEYS[group_by]:
        if name == "source":
            columns.append(source.label(name))
        elif name == "day":
            columns.append(day.label(name))
        elif name == "week":
            columns.append(week_start_sql(day, dialect).label(name))
        else:
            columns.append(page.label(name))
    return columns


def _grouped(
    facts: Select[*tuple[Any, ...]], group_by: str, measures: Collection[str]
) -> Select[Any]:
    """GROUP BY the key columns of a subquery of facts, summing `measures` and yielding every
    measure in `_MEASURES` order (0, or an unknown count, where the facts have none). Grouping
    by the subquery's plain columns spares PostgreSQL from matching two copies of an expression
    with bound parameters."""
    sub = facts.subquery()
    keys = [sub.c[name] for name in _KEYS[group_by]]
    columns = []
    for name in _MEASURES:
        if name == "likes" and "likes_known" in measures:
            known = func.sum(sub.c.likes_known) > 0
            columns.append(case((known, func.sum(sub.c.likes))).label(name))
        elif name in measures:
            columns.append(func.sum(sub.c[name]).label(name))
        elif name in _COUNTS:
            columns.append(literal_column("0", Integer).label(name))
        else:  # typed, so PostgreSQL resolves the UNION's column type even without metric rows
            columns.append(cast(null(), BigInteger).label(name))
    return select(*keys, *columns).group_by(*keys)


def _whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The first days of the first and last calendar months lying wholly in start..end."""
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after_end = end + timedelta(days=1)
    last = after_end.replace(day=1) - timedelta(days=1)  # the last month-end on or before end
    last_month = last.replace(day=1)
    return (first, last_month) if first <= last_month else None


async def conversion_report(
    session: AsyncSession,
    *,
    handle: Handle | None,
    page: Page | None,
    start: date,
    end: date,
    group_by: str = "source",
    source: str | None = None,
    tz: str | ZoneInfo | None = None,
    handle_ids: Collection[int] | None = None,
) -> Report:
    """The funnel likes → visits → leads → confirmed → customers of a page, a handle or every
    handle (`handle_ids` narrows "every" to the handles an API key may see) over the days
    `start..end` (inclusive), grouped by `group_by`, optionally for one source.

    Days are those of the rollups, i.e. of the report time zone they are kept in
    (LEADLINK_REPORT_TZ, see `rebuild_rollups`); `tz`, when given, is only checked to be a zone.
    """
    if group_by not in KEY_FIELDS:
        raise InvalidReportInput("group_by", f"group_by is one of: {', '.join(GROUPINGS)}.")
    if source is not None and source not in _SOURCE_ORDER:
        raise InvalidReportInput("source", f"source is one of: {', '.join(CANONICAL_SOURCES)}.")
    check_range(start, end)
    if isinstance(tz, str):
        zone(tz)
    if page is not None:
        handle_ids = [page.handle_id]
    elif handle is not None:
        handle_ids = [handle.id]
    if handle_ids is not None and not handle_ids:
        return Report(group_by, start, end, _ordered([], group_by, start, end), ReportRow(source))

    months = _whole_months(start, end) if group_by == "source" and page is None else None
    level: Literal["pages", "days", "months"] = (
        "pages" if page is not None or group_by == "page" else "months" if months else "days"
    )
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "handle_ids": list(handle_ids or []),
        "page_id": page.id if page else None,
        "source": source,
    }
    if months:
        first_month, last_month = months
        after_months = (last_month.replace(day=28) + timedelta(days=4)).replace(day=1)
        params.update(
            first_month=first_month,
            last_month=last_month,
            head_end=first_month - timedelta(days=1),
            tail_start=after_months,
        )
    shape = _Shape(
        group_by,
        session.get_bind().dialect.name,
        level,
        by_handles=handle_ids is not None,
        by_page=page is not None,
        by_source=source is not None,
    )
    result = await session.execute(_report_statement(shape), params)
    rows = _ordered([_report_row(row) for row in result.mappings()], group_by, start, end)
    if group_by == "source":
        # Per source, the rows partition everything, followers included (a platform's latest
        # count is in its own row): the totals add up those few SQL subtotals.
        totals = ReportRow(
            source=source,
            likes=_sum_known(row.likes for row in rows),
            followers=_sum_known(row.followers for row in rows),
            **{name: sum(getattr(row, name) for row in rows) for name in _COUNTS},
        )
    else:
        # Followers over several days are not the sum of each day's: the same statement
        # with a single group.
        total_shape = replace(shape, group_by="total")
        total = (await session.execute(_report_statement(total_shape), params)).mappings().one()
        totals = replace(_report_row(total), source=source)
    return Report(group_by, start, end, rows, totals)


async def leads_by_source_over_time(
    session: AsyncSession,
    *,
    handle_ids: Collection[int] | None,
    start: date,
    end: date,
    weekly: bool,
) -> list[tuple[date, str, int]]:
    """(day or Monday of the week, source, leads) for the days `start..end` of the given
    handles (every handle for None), from the daily rollups: the few thousand numbers a chart
    of leads over time needs, without the rest of the funnel per day."""
    check_range(start, end)
    day: ColumnElement[date] = ReportDay.__table__.c.day
    bucket = week_start_sql(day, session.get_bind().dialect.name) if weekly else day
    query = (
        select(bucket.label("bucket"), ReportDay.source, func.sum(ReportDay.leads))
        .where(day.between(start, end), ReportDay.leads != 0)
        .group_by(bucket, ReportDay.source)
        .order_by(bucket, ReportDay.source)
    )
    query = query.where(visible_only(ReportDay.handle_id, handle_ids))
    rows = await session.execute(query)
    return [(bucket_day, source, int(leads)) for bucket_day, source, leads in rows if leads]


@lru_cache(maxsize=256)
def _report_statement(shape: _Shape) -> Select[Any]:
    """One statement: the subtotals of the rollups and of the social metrics stacked
    (UNION ALL) and summed per group key (one row for the "total" grouping)."""
    parts = _rollup_parts(shape)
    if shape.group_by != "page":  # likes belong to a platform account, not to a landing page
        parts.append(_metric_part(shape))
    stacked = union_all(*parts).subquery()
    keys = [stacked.c[name] for name in _KEYS[shape.group_by]]
    query = select(*keys, *(func.sum(stacked.c[name]).label(name) for name in _MEASURES))
    query = query.group_by(*keys)
    if shape.group_by == "page":
        grouped = query.subquery()
        query = select(grouped, Page.slug).outerjoin(Page, Page.id == grouped.c.page_id)
    return query


def _rollup_parts(shape: _Shape) -> list[Select[Any]]:
    """Visits, unique visitors, previews, leads, confirmed leads, customers (and, but for page
    reports, likes) per group, from rollups kept per day of the report time zone."""
    in_range: tuple[Any, Any] = (bindparam("start"), bindparam("end"))
    if shape.level == "pages":
        parts = []
        for table, measures in ((VisitRollup, _COUNTS[:3]), (LeadRollup, _COUNTS[3:])):
            keys = _key_columns(
                shape.group_by, source=table.source, day=table.day, page=table.page_id,
                dialect=shape.dialect,
            )  # fmt: skip
            facts = select(*keys, *(getattr(table, m) for m in measures)).where(
                table.day.between(*in_range),
                *shape.where(table.handle_id, table.page_id, table.source),
            )
            parts.append(_grouped(facts, shape.group_by, measures))
        return parts
    return _per_source_parts(shape)


def _per_source_parts(shape: _Shape) -> list[Select[Any]]:
    """The same from `report_days`, and `report_months` for the whole months of the range."""
    in_range: tuple[Any, Any] = (bindparam("start"), bindparam("end"))

    d = ReportDay
    keys = _key_columns(
        shape.group_by, source=d.source, day=d.day, page=None, dialect=shape.dialect
    )
    measures = (*_COUNTS, "likes", "likes_known")
    days = select(*keys, *(getattr(d, m) for m in measures)).where(
        *shape.where(d.handle_id, None, d.source)
    )
    if shape.level == "days":
        return [_grouped(days.where(d.day.between(*in_range)), shape.group_by, measures)]
    # A year: twelve month rows per handle and source, and the days of the partial months.
    head = d.day.between(bindparam("start"), bindparam("head_end"))
    tail = d.day.between(bindparam("tail_start"), bindparam("end"))
    m = ReportMonth
    month_keys = [m.source.label("source")] if "source" in _KEYS[shape.group_by] else []
    months = select(*month_keys, *(getattr(m, c) for c in measures))
    months = months.where(
        m.month.between(bindparam("first_month"), bindparam("last_month")),
        *shape.where(m.handle_id, None, m.source),
    )
    return [
        _grouped(days.where(or_(head, tail)), shape.group_by, measures),
        _grouped(months, shape.group_by, measures),
    ]


def _metric_part(shape: _Shape) -> Select[Any]:
    """Followers (and, for page reports, likes) from the social-metric snapshots.

    Followers are a level, not a flow: a group's followers are each (handle, platform)'s latest
    known count in the group, summed. For whole-range groups (per source, the totals) that is
    one index lookup per handle and platform; for day and week groups a window function over
    the range's snapshots.
    """
    if shape.level != "pages" and shape.group_by in {"source", "total"}:
        return _latest_followers(shape)
    m = SocialMetric
    keys = _key_columns(
        shape.group_by, source=m.platform, day=m.day, page=None, dialect=shape.dialect
    )
    latest_first = func.row_number().over(
        partition_by=[*(key.element for key in keys), m.handle_id, m.platform],
        order_by=[m.followers.is_(None), m.day.desc()],
    )
    with_likes = shape.level == "pages"
    known = (
        or_(m.likes.is_not(None), m.followers.is_not(None))
        if with_likes
        else (m.followers.is_not(None))
    )
    facts = select(*keys, m.likes, m.followers, latest_first.label("nth")).where(
        m.day >= bindparam("start"),
        m.day <= bindparam("end"),
        known,
        *shape.where(m.handle_id, None, m.platform),
    )
    sub = facts.subquery()
    group = [sub.c[name] for name in _KEYS[shape.group_by]]
    likes = func.sum(sub.c.likes) if with_likes else cast(null(), BigInteger)
    return select(
        *group,
        *(literal_column("0", Integer).label(name) for name in _COUNTS),
        likes.label("likes"),
        func.sum(case((sub.c.nth == 1, sub.c.followers))).label("followers"),
    ).group_by(*group)


def _latest_followers(shape: _Shape) -> Select[Any]:
    # The canonical platforms as a table (SQLite cannot name the columns of a VALUES list).
    platforms = union_all(
        *(select(literal(name, String).label("platform")) for name in CANONICAL_SOURCES)
    ).subquery("platforms")
    # Every handle and platform (a cross join), each looked up in the unique index.
    pairs = (
        select(Handle.id.label("handle_id"), platforms.c.platform)
        .select_from(join(Handle, platforms, true()))
        .where(*shape.where(Handle.id, None, platforms.c.platform))
        .subquery()
    )
    m = SocialMetric
    latest = (
        select(m.followers)
        .where(
            m.handle_id == pairs.c.handle_id,
            m.platform == pairs.c.platform,
            m.day.between(bindparam("start"), bindparam("end")),
            m.followers.is_not(None),
        )
        .order_by(m.day.desc())
        .limit(1)
        .scalar_subquery()
    )
    facts = select(pairs.c.platform.label("source"), latest.label("followers")).subquery()
    group = [facts.c.source] if shape.group_by == "source" else []
    return (
        select(
            *group,
            *(literal_column("0", Integer).label(name) for name in _COUNTS),
            cast(null(), BigInteger).label("likes"),
            func.sum(facts.c.followers).label("followers"),
        )
        .where(facts.c.followers.is_not(None))
        .group_by(*group)
    )


def _sum_known(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _report_row(row: Any) -> ReportRow:
    page_id = None if row.get("page_id") in {None, EXTERNAL_PAGE_ID} else int(row["page_id"])
    return ReportRow(
        source=row.get("source"),
        likes=_int_or_none(row["likes"]),
        followers=_int_or_none(row["followers"]),
        **{name: int(row[name] or 0) for name in _COUNTS},
        day=_as_date(row.get("day")),
        week=_as_date(row.get("week")),
        page=None if page_id is None else row.get("slug"),
        page_id=page_id,
    )


def source_rank(source: str | None) -> tuple[int, str]:
    return (_SOURCE_ORDER.get(source or "", len(_SOURCE_ORDER)), source or "")


def _ordered(rows: list[ReportRow], group_by: str, start: date, end: date) -> list[ReportRow]:
    """Day and week reports get a row for every day (week) of the range, in order, so a chart
    has no holes; the other groupings list the groups that have data, sources in DESIGN.md's
    order and external URLs (page null) after the pages."""
    if group_by in {"day", "week"}:
        step = timedelta(days=1 if group_by == "day" else 7)
        current = start if group_by == "day" else week_start(start)
        found = {row.day if group_by == "day" else row.week: row for row in rows}
        filled = []
        while current <= end:
            empty = (
                ReportRow(None, day=current) if group_by == "day" else ReportRow(None, week=current)
            )
            filled.append(found.get(current) or empty)
            current += step
        return filled
    if group_by == "page":
        return sorted(rows, key=lambda row: (row.page is None, row.page or ""))
    return sorted(rows, key=lambda row: (source_rank(row.source), row.day or start))


def report_csv(report: Report) -> str:
    """The report as CSV: the group keys and DESIGN.md's fields, then a `total` line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow((*KEY_FIELDS[report.group_by], *ROW_FIELDS))
    for row in report.rows:
        writer.writerow(_csv_cell(value) for value in row.fields_for(report.group_by).values())
    totals = [_csv_cell(value) for value in report.totals.fields_for(report.group_by).values()]
    totals[0] = "total"
    writer.writerow(totals)
    return buffer.getvalue()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    cell = value.isoformat() if isinstance(value, date) else str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return "'" + cell if cell[:1] in {"=", "+", "-", "@"} else cell


async def resolve_scope(
    session: AsyncSession,
    *,
    visible: Collection[int] | None,
    handle: str | None,
    page: str | None,
) -> tuple[Handle | None, Page | None]:
    """The handle and page a report names, as 404s when unknown or out of the key's sight
    (exactly alike), and a 422 when the page is not one of the handle's."""
    found_handle = await links.get_handle(session, handle) if handle else None
    if found_handle is not None and not sees(visible, found_handle.id):
        raise HandleNotFound(handle or "")
    found_page = await pages.get_page(session, page) if page else None
    if found_page is not None and not sees(visible, found_page.handle_id):
        raise PageNotFound(page)
    if found_page and found_handle and found_page.handle_id != found_handle.id:
        raise InvalidReportInput("page", f"The page {page!r} is not one of @{handle}'s pages.")
    return found_handle, found_page
