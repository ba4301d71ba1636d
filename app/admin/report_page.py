"""The owner's report page: the filter form and its date presets, then a fixed handful of queries
shaped into the table, the three inline SVG charts, the days without likes and the A/B section:
the report per source, leads per source and day, the days with likes per handle and source, the
handles running an A/B test, and (for one chosen handle with a test) its variant report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.handles.visibility import Sight
from app.reports import charts, variants
from app.reports import service as reports
from app.reports.timezones import week_start

__all__ = [
    "COLUMNS",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "LikesGap",
    "Preset",
    "ReportFilters",
    "ReportView",
    "VariantLine",
    "build_report_view",
    "parse_filters",
    "presets",
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
# Sources that have no likes to enter (not a social platform).
SOURCES_WITHOUT_LIKES = frozenset({"email", "direct", "other"})
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
class Preset:
    """A link setting the range to a common span ending today; `current` when it is the
    range shown."""

    label: str
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class LikesGap:
    """A platform of a handle with visits or leads in the range but days without likes."""

    handle: str
    source: str
    days_without: int
    days: int
    href: str


@dataclass(frozen=True, slots=True)
class VariantLine:
    """One variant of an A/B test, ready to print."""

    experiment: str
    variant: str
    page: str
    visits: str
    leads: str
    rate: str
    interval: str
    p_best: str


@dataclass(frozen=True, slots=True)
class HandleExperiments:
    """The A/B section of a handle: its variants over all sources, or (when the page cannot
    afford the queries) only the link that shows them."""

    handle: str
    href: str
    lines: Sequence[VariantLine] = ()


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
    likes_gaps: Sequence[LikesGap] = ()
    experiments: Sequence[HandleExperiments] = ()
    # Buyers a connected shop reported whose address matched no lead (app.shop).
    customers_without_lead: int = 0


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


def report_href(handle: Handle | None, start: date | None = None, end: date | None = None) -> str:
    """The report's address for a handle (or all) and a range (or the default)."""
    query = {"handle": handle.name} if handle is not None else {}
    if start is not None and end is not None:
        query.update({"from": start.isoformat(), "to": end.isoformat()})
    return "/admin/report" + (f"?{urlencode(query)}" if query else "")


def presets(filters: ReportFilters, today: date) -> list[Preset]:
    """The last 7, 30 and 90 days and this month, each ending today, for the chosen handle."""
    spans = [
        ("Last 7 days", today - timedelta(days=6)),
        ("Last 30 days", today - timedelta(days=29)),
        ("Last 90 days", today - timedelta(days=89)),
        ("This month", today.replace(day=1)),
    ]
    return [
        Preset(
            label,
            report_href(filters.handle, start, today),
            (filters.start, filters.end) == (start, today),
        )
        for label, start in spans
    ]


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


def _likes_gaps(
    coverage: Sequence[reports.LikesCoverage], names: Mapping[int, str]
) -> list[LikesGap]:
    return [
        LikesGap(
            handle=names.get(entry.handle_id, ""),
            source=entry.source,
            days_without=entry.days_without_likes,
            days=entry.days,
            href="/admin/likes?" + urlencode({"handle": names.get(entry.handle_id, "")}),
        )
        for entry in sorted(coverage, key=lambda e: (names.get(e.handle_id, ""), e.source))
        if entry.days_without_likes and entry.source not in SOURCES_WITHOUT_LIKES
    ]


def _variant_lines(report: variants.VariantReport) -> list[VariantLine]:
    """The variants of each test over all its sources (tests of a single route are rules)."""
    lines = []
    for row in report.rows:
        if row.source is not None or row.p_best is None:
            continue
        low_high = (
            f"{charts.format_rate(row.interval[0])} to {charts.format_rate(row.interval[1])}"
            if row.interval
            else "—"
        )
        lines.append(
            VariantLine(
                experiment=row.experiment or "any source",
                variant=row.variant,
                page=row.page or "external URL",
                visits=charts.format_count(row.visits),
                leads=charts.format_count(row.leads),
                rate=charts.format_rate(row.visit_to_lead),
                interval=low_high,
                p_best=f"{row.p_best * 100:.0f}%",
            )
        )
    return lines


async def _experiments(
    session: AsyncSession,
    filters: ReportFilters,
    handles: Sequence[Handle],
    sight: Sight,
    tz: str,
) -> list[HandleExperiments]:
    """The A/B section: the chosen handle's variants when it runs a test; with all handles, a
    link per handle that runs one (a variant report per handle would make the page's query
    count grow with the handles)."""
    running = await variants.handles_with_experiments(
        session, [filters.handle.id] if filters.handle is not None else sight
    )
    if filters.handle is not None:
        if filters.handle.id not in running:
            return []
        report = await variants.variant_report(
            session, filters.handle, filters.start, filters.end, tz=tz
        )
        href = report_href(filters.handle, filters.start, filters.end)
        return [HandleExperiments(filters.handle.name, href, _variant_lines(report))]
    return [
        HandleExperiments(h.name, report_href(h, filters.start, filters.end))
        for h in handles
        if h.id in running
    ]


async def build_report_view(
    session: AsyncSession,
    filters: ReportFilters,
    *,
    tz: str,
    sight: Sight,
    handles: Sequence[Handle] = (),
) -> ReportView:
    """Run the report queries for the filters (over the handles in `sight` when no handle is
    chosen) and lay out the table, charts, likes gaps and A/B section. `handles` are the
    visible handles (their names label the notes)."""
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
    coverage = await reports.likes_coverage(
        session, handle_ids=handle_ids, start=filters.start, end=filters.end
    )
    names = {h.id: h.name for h in handles}
    if filters.handle is not None:
        names[filters.handle.id] = filters.handle.name
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
        likes_gaps=_likes_gaps(coverage, names),
        experiments=await _experiments(session, filters, handles, sight, tz),
        customers_without_lead=by_source.customers_without_lead or 0,
    )
