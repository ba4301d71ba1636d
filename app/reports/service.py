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
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.handles import service as handles
from app.handles.exceptions import HandleNotFound
from app.handles.models import Handle
from app.handles.visibility import sees
from app.links.models import EXTERNAL_PAGE_ID
from app.links.sources import CANONICAL_SOURCES
from app.pages import service as pages
from app.pages.exceptions import PageNotFound
from app.pages.models import Page
from app.reports.exceptions import InvalidReportInput
from app.reports.queries import (
    COUNTS,
    ReportShape,
    customers_without_lead_statement,
    leads_by_source_statement,
    likes_coverage_statement,
    report_statement,
)
from app.reports.timezones import (
    utc_bounds,
    week_start,
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
    "LikesCoverage",
    "Report",
    "ReportRow",
    "check_day",
    "check_range",
    "conversion_report",
    "leads_by_source_over_time",
    "likes_coverage",
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
"""The fields of every report row, exactly as docs/reports.md lists them."""

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
        """The row's fields as docs/reports.md names them, after the group-key fields."""
        return {name: getattr(self, name) for name in (*KEY_FIELDS[group_by], *ROW_FIELDS)}


@dataclass(frozen=True, slots=True)
class Report:
    group_by: str
    start: date
    end: date
    rows: list[ReportRow]
    totals: ReportRow
    # Buyers the shop reported with no lead to match (docs/integrations.md); None for a report
    # of one page or one source, which a sale without a lead belongs to neither.
    customers_without_lead: int | None = None


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
        empty = _ordered([], group_by, start, end)
        return Report(group_by, start, end, empty, ReportRow(source), customers_without_lead=0)

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
    shape = ReportShape(
        group_by,
        session.get_bind().dialect.name,
        level,
        by_handles=handle_ids is not None,
        by_page=page is not None,
        by_source=source is not None,
    )
    result = await session.execute(report_statement(shape), params)
    rows = _ordered([_report_row(row) for row in result.mappings()], group_by, start, end)
    if group_by == "source":
        # Per source, the rows partition everything, followers included (a platform's latest
        # count is in its own row): the totals add up those few SQL subtotals.
        totals = ReportRow(
            source=source,
            likes=_sum_known(row.likes for row in rows),
            followers=_sum_known(row.followers for row in rows),
            **{name: sum(getattr(row, name) for row in rows) for name in COUNTS},
        )
    else:
        # Followers over several days are not the sum of each day's: the same statement
        # with a single group.
        total_shape = replace(shape, group_by="total")
        total = (await session.execute(report_statement(total_shape), params)).mappings().one()
        totals = replace(_report_row(total), source=source)
    without_lead = None
    if page is None and source is None:
        low, high = utc_bounds(start, end, zone(tz) if isinstance(tz, str) else tz or zone("UTC"))
        statement = customers_without_lead_statement(handle_ids, low, high)
        without_lead = int(await session.scalar(statement) or 0)
    return Report(group_by, start, end, rows, totals, without_lead)


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
    query = leads_by_source_statement(
        handle_ids, start, end, weekly=weekly, dialect=session.get_bind().dialect.name
    )
    rows = await session.execute(query)
    return [(bucket_day, source, int(leads)) for bucket_day, source, leads in rows if leads]


@dataclass(frozen=True, slots=True)
class LikesCoverage:
    """Of the days `start..end`, on how many a handle's platform has likes, for a handle and
    source that had visits or leads in that range (like-to-lead needs both)."""

    handle_id: int
    source: str
    days: int
    days_with_likes: int

    @property
    def days_without_likes(self) -> int:
        return self.days - self.days_with_likes


async def likes_coverage(
    session: AsyncSession, *, handle_ids: Collection[int] | None, start: date, end: date
) -> list[LikesCoverage]:
    """Per handle and source with visits or leads in the range: how many of its days have likes
    (one query over the daily rollups; every handle for `handle_ids` None)."""
    check_range(start, end)
    days = (end - start).days + 1
    rows = await session.execute(likes_coverage_statement(handle_ids, start, end))
    return [
        LikesCoverage(handle_id, source, days, int(with_likes or 0))
        for handle_id, source, with_likes in rows
    ]


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
        **{name: int(row[name] or 0) for name in COUNTS},
        day=_as_date(row.get("day")),
        week=_as_date(row.get("week")),
        page=None if page_id is None else row.get("slug"),
        page_id=page_id,
    )


def source_rank(source: str | None) -> tuple[int, str]:
    return (_SOURCE_ORDER.get(source or "", len(_SOURCE_ORDER)), source or "")


def _ordered(rows: list[ReportRow], group_by: str, start: date, end: date) -> list[ReportRow]:
    """Day and week reports get a row for every day (week) of the range, in order, so a chart
    has no holes; the other groupings list the groups that have data, sources in the canonical
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
    """The report as CSV: the group keys and the report's fields, then a `total` line."""
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
    found_handle = await handles.get_handle(session, handle) if handle else None
    if found_handle is not None and not sees(visible, found_handle.id):
        raise HandleNotFound(handle or "")
    found_page = await pages.get_page(session, page) if page else None
    if found_page is not None and not sees(visible, found_page.handle_id):
        raise PageNotFound(page)
    if found_page and found_handle and found_page.handle_id != found_handle.id:
        raise InvalidReportInput("page", f"The page {page!r} is not one of @{handle}'s pages.")
    return found_handle, found_page
