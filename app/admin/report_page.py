"""The owner's report page: the filter form, then two report queries (per source, and per source
and day) shaped into the table and the three inline SVG charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.handles.visibility import Sight
from app.reports import charts
from app.reports import service as reports
from app.reports.timezones import week_start

__all__ = [
    "COLUMNS",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "ReportFilters",
    "ReportView",
    "build_report_view",
    "parse_filters",
    "today_in",
]

DEFAULT_DAYS = 28
MAX_DAYS = reports.MAX_RANGE_DAYS
# Beyond this many days, the leads chart draws a bar per week: a phone has no room for more.
MAX_DAILY_BARS = 92

# The report row fields of docs/reports.md (`reports.ROW_FIELDS`), in order, with their headings.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "Source"),
    ("likes", "Likes"),
    ("followers", "Followers"),
    ("visits", "Visits"),
    ("unique_visitors", "Unique visitors"),
    ("previews", "Previews"),
    ("leads", "Leads"),
    ("confirmed_leads", "Confirmed"),
    ("customers", "Customers"),
    ("visit_to_lead", "Visit → lead"),
    ("like_to_lead", "Like → lead"),
    ("lead_to_customer", "Lead → customer"),
)
RATE_FIELDS = frozenset({"visit_to_lead", "like_to_lead", "lead_to_customer"})
FUNNEL_STAGES = (
    ("likes", "likes"),
    ("visits", "visits"),
    ("leads", "leads"),
    ("confirmed_leads", "confirmed"),
    ("customers", "customers"),
)


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """What the form asked for, checked; `errors` name the fields that were replaced."""

    handle: Handle | None
    start: date
    end: date
    raw_from: str
    raw_to: str
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportView:
    columns: Sequence[tuple[str, str]]
    rows: Sequence[Sequence[str]]
    totals: Sequence[str]
    funnels: Sequence[Markup]
    leads_chart: Markup
    leads_table_head: Sequence[str]
    leads_table: Sequence[Sequence[str]]
    bucket: str
    like_to_lead_chart: Markup


def _parse_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def parse_filters(
    *,
    handle: str | None,
    raw_from: str | None,
    raw_to: str | None,
    handles: Sequence[Handle],
    today: date,
) -> ReportFilters:
    """The range and handle to show; anything unusable falls back to the default with a note."""
    errors: dict[str, str] = {}
    chosen = next((h for h in handles if h.name == handle), None) if handle else None
    if handle and chosen is None:
        errors["handle"] = "There is no such handle; showing all handles."
    end = _parse_date(raw_to) if raw_to else today
    if end is None:
        errors["to"] = "Enter a date like 2026-11-22."
        end = today
    start = _parse_date(raw_from) if raw_from else end - timedelta(days=DEFAULT_DAYS - 1)
    if start is None:
        errors["from"] = "Enter a date like 2026-11-01."
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        errors["from"] = "The start is after the end; showing the days up to the end."
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if (end - start).days + 1 > MAX_DAYS:
        errors["from"] = f"Reports cover at most {MAX_DAYS} days; showing the last {MAX_DAYS}."
        start = end - timedelta(days=MAX_DAYS - 1)
    return ReportFilters(
        handle=chosen,
        start=start,
        end=end,
        raw_from=start.isoformat(),
        raw_to=end.isoformat(),
        errors=errors,
    )


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def _cells(row: reports.ReportRow, label: str | None = None) -> list[str]:
    cells: list[str] = []
    for name, _heading in COLUMNS:
        value = getattr(row, name)
        if name == "source":
            cells.append(label if label is not None else str(value))
        elif name in RATE_FIELDS:
            cells.append(charts.format_rate(value))
        else:
            cells.append(charts.format_count(value))
    return cells


def _short_day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _leads_buckets(
    start: date, end: date, weekly: bool, leads: Sequence[tuple[date, str, int]]
) -> list[charts.StackedBar]:
    """A bar per day of the range (or per week, Monday first), zeros included."""
    first = week_start(start) if weekly else start
    width = 7 if weekly else 1
    count = (end - first).days // width + 1
    values: list[dict[str, int]] = [{} for _ in range(count)]
    for bucket_day, source, number in leads:
        values[(bucket_day - first).days // width][source] = number
    labels = [_short_day(first + timedelta(days=index * width)) for index in range(count)]
    return [
        charts.StackedBar(f"week of {label}" if weekly else label, bucket)
        for label, bucket in zip(labels, values, strict=True)
    ]


async def build_report_view(
    session: AsyncSession, filters: ReportFilters, *, tz: str, sight: Sight
) -> ReportView:
    """Run the report queries for the filters (over the handles in `sight` when no handle is
    chosen) and lay out the table and charts."""
    handle_ids = sorted(sight) if sight is not None else None
    if filters.handle is not None:
        handle_ids = [filters.handle.id]
    by_source = await reports.conversion_report(
        session,
        handle=filters.handle,
        page=None,
        start=filters.start,
        end=filters.end,
        group_by="source",
        source=None,
        tz=tz,
        handle_ids=handle_ids,
    )
    weekly = (filters.end - filters.start).days + 1 > MAX_DAILY_BARS
    bucket = "week" if weekly else "day"
    leads_over_time = await reports.leads_by_source_over_time(
        session,
        handle_ids=handle_ids,
        start=filters.start,
        end=filters.end,
        weekly=weekly,
    )
    rows = by_source.rows
    sources = [row.source or "unknown" for row in rows]
    funnels = [
        Markup(  # noqa: S704 - charts escape every label themselves
            charts.funnel_chart(
                charts.Funnel(
                    label=source,
                    stages=[(label, getattr(row, name)) for name, label in FUNNEL_STAGES],
                ),
                chart_id=f"funnel-{index}",
            )
        )
        for index, (source, row) in enumerate(zip(sources, rows, strict=True))
    ]
    bars = _leads_buckets(filters.start, filters.end, weekly, leads_over_time)
    # Stack in the table's order, so colours and positions match from chart to chart.
    series = sorted(
        {name for bar in bars for name in bar.values},
        key=lambda name: (sources.index(name) if name in sources else len(sources), name),
    )
    leads_chart = charts.stacked_bar_chart(
        bars,
        series,
        chart_id="leads-per-day",
        title=f"Leads per {bucket}, stacked by source",
        unit="leads",
    )
    like_to_lead = charts.rate_bar_chart(
        [(source, row.like_to_lead) for source, row in zip(sources, rows, strict=True)],
        chart_id="like-to-lead",
        title="Like-to-lead rate per source",
        missing="no likes recorded",
    )
    leads_table = [
        [bar.label, f"{sum(bar.values.values()):,}", *(f"{bar.values.get(n, 0):,}" for n in series)]
        for bar in bars
        if bar.values
    ]
    return ReportView(
        columns=COLUMNS,
        rows=[_cells(row) for row in rows],
        totals=_cells(by_source.totals, "All sources"),
        funnels=funnels,
        leads_chart=Markup(leads_chart),  # noqa: S704 - escaped by the chart
        leads_table_head=[bucket.capitalize(), "Leads", *series],
        leads_table=leads_table,
        bucket=bucket,
        like_to_lead_chart=Markup(like_to_lead),  # noqa: S704 - escaped by the chart
    )
