"""The report's statements: one UNION ALL of rollup and social-metric subtotals per report shape,
summed per group key, and the leads-over-time query of the charts. Rules and rates live in
`app.reports.service`; this module only builds SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    distinct,
    exists,
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
from sqlalchemy.sql.elements import ColumnElement

from app.connections.models import Sale, connection_handles
from app.handles.models import Handle
from app.handles.visibility import visible_only
from app.links.models import VisitRollup
from app.links.sources import CANONICAL_SOURCES
from app.pages.models import Page
from app.reports.models import LeadRollup, ReportDay, ReportMonth, SocialMetric
from app.reports.timezones import week_start_sql

__all__ = [
    "COUNTS",
    "KEYS",
    "MEASURES",
    "ReportShape",
    "customers_without_lead_statement",
    "leads_by_source_statement",
    "likes_coverage_statement",
    "report_statement",
]


@dataclass(frozen=True, slots=True)
class ReportShape:
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
COUNTS = ("visits", "unique_visitors", "previews", "leads", "confirmed_leads", "customers")
MEASURES = (*COUNTS, "likes", "followers")
KEYS: dict[str, tuple[str, ...]] = {
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
    for name in KEYS[group_by]:
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
    measure in `MEASURES` order (0, or an unknown count, where the facts have none). Grouping
    by the subquery's plain columns spares PostgreSQL from matching two copies of an expression
    with bound parameters."""
    sub = facts.subquery()
    keys = [sub.c[name] for name in KEYS[group_by]]
    columns = []
    for name in MEASURES:
        if name == "likes" and "likes_known" in measures:
            known = func.sum(sub.c.likes_known) > 0
            columns.append(case((known, func.sum(sub.c.likes))).label(name))
        elif name in measures:
            columns.append(func.sum(sub.c[name]).label(name))
        elif name in COUNTS:
            columns.append(literal_column("0", Integer).label(name))
        else:  # typed, so PostgreSQL resolves the UNION's column type even without metric rows
            columns.append(cast(null(), BigInteger).label(name))
    return select(*keys, *columns).group_by(*keys)


@lru_cache(maxsize=256)
def report_statement(shape: ReportShape) -> Select[Any]:
    """One statement: the subtotals of the rollups and of the social metrics stacked
    (UNION ALL) and summed per group key (one row for the "total" grouping)."""
    parts = _rollup_parts(shape)
    if shape.group_by != "page":  # likes belong to a platform account, not to a landing page
        parts.append(_metric_part(shape))
    stacked = union_all(*parts).subquery()
    keys = [stacked.c[name] for name in KEYS[shape.group_by]]
    query = select(*keys, *(func.sum(stacked.c[name]).label(name) for name in MEASURES))
    query = query.group_by(*keys)
    if shape.group_by == "page":
        grouped = query.subquery()
        query = select(grouped, Page.slug).outerjoin(Page, Page.id == grouped.c.page_id)
    return query


def _rollup_parts(shape: ReportShape) -> list[Select[Any]]:
    """Visits, unique visitors, previews, leads, confirmed leads, customers (and, but for page
    reports, likes) per group, from rollups kept per day of the report time zone."""
    in_range: tuple[Any, Any] = (bindparam("start"), bindparam("end"))
    if shape.level == "pages":
        parts = []
        for table, measures in ((VisitRollup, COUNTS[:3]), (LeadRollup, COUNTS[3:])):
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


def _per_source_parts(shape: ReportShape) -> list[Select[Any]]:
    """The same from `report_days`, and `report_months` for the whole months of the range."""
    in_range: tuple[Any, Any] = (bindparam("start"), bindparam("end"))

    d = ReportDay
    keys = _key_columns(
        shape.group_by, source=d.source, day=d.day, page=None, dialect=shape.dialect
    )
    measures = (*COUNTS, "likes", "likes_known")
    days = select(*keys, *(getattr(d, m) for m in measures)).where(
        *shape.where(d.handle_id, None, d.source)
    )
    if shape.level == "days":
        return [_grouped(days.where(d.day.between(*in_range)), shape.group_by, measures)]
    # A year: twelve month rows per handle and source, and the days of the partial months.
    head = d.day.between(bindparam("start"), bindparam("head_end"))
    tail = d.day.between(bindparam("tail_start"), bindparam("end"))
    m = ReportMonth
    month_keys = [m.source.label("source")] if "source" in KEYS[shape.group_by] else []
    months = select(*month_keys, *(getattr(m, c) for c in measures))
    months = months.where(
        m.month.between(bindparam("first_month"), bindparam("last_month")),
        *shape.where(m.handle_id, None, m.source),
    )
    return [
        _grouped(days.where(or_(head, tail)), shape.group_by, measures),
        _grouped(months, shape.group_by, measures),
    ]


def _metric_part(shape: ReportShape) -> Select[Any]:
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
    group = [sub.c[name] for name in KEYS[shape.group_by]]
    likes = func.sum(sub.c.likes) if with_likes else cast(null(), BigInteger)
    return select(
        *group,
        *(literal_column("0", Integer).label(name) for name in COUNTS),
        likes.label("likes"),
        func.sum(case((sub.c.nth == 1, sub.c.followers))).label("followers"),
    ).group_by(*group)


def _latest_followers(shape: ReportShape) -> Select[Any]:
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
            *(literal_column("0", Integer).label(name) for name in COUNTS),
            cast(null(), BigInteger).label("likes"),
            func.sum(facts.c.followers).label("followers"),
        )
        .where(facts.c.followers.is_not(None))
        .group_by(*group)
    )


def leads_by_source_statement(
    handle_ids: Collection[int] | None, start: date, end: date, *, weekly: bool, dialect: str
) -> Select[date, str, int]:
    """(day or Monday of the week, source, leads) from the daily rollups."""
    day: ColumnElement[date] = ReportDay.__table__.c.day
    bucket = week_start_sql(day, dialect) if weekly else day
    query = (
        select(bucket.label("bucket"), ReportDay.source, func.sum(ReportDay.leads))
        .where(day.between(start, end), ReportDay.leads != 0)
        .group_by(bucket, ReportDay.source)
        .order_by(bucket, ReportDay.source)
    )
    return query.where(visible_only(ReportDay.handle_id, handle_ids))


def likes_coverage_statement(
    handle_ids: Collection[int] | None, start: date, end: date
) -> Select[int, str, int]:
    """(handle id, source, days with known likes) for every handle and source that had visits
    or leads in `start..end`, from the daily rollups (a day's row holds both)."""
    day: ColumnElement[date] = ReportDay.__table__.c.day
    days_with_likes = func.sum(case((ReportDay.likes_known > 0, 1), else_=0))
    return (
        select(ReportDay.handle_id, ReportDay.source, days_with_likes)
        .where(day.between(start, end), visible_only(ReportDay.handle_id, handle_ids))
        .group_by(ReportDay.handle_id, ReportDay.source)
        .having(func.sum(ReportDay.visits) + func.sum(ReportDay.leads) > 0)
        .order_by(ReportDay.handle_id, ReportDay.source)
    )


def customers_without_lead_statement(
    handle_ids: Collection[int] | None, low: datetime, high: datetime
) -> Select[int]:
    """How many distinct buyers bought in `[low, high)` with no lead to make a customer, on
    shop connections for any of `handle_ids` (None: every connection)."""
    query = select(func.count(distinct(Sale.email))).where(
        Sale.lead_id.is_(None), Sale.occurred_at >= low, Sale.occurred_at < high
    )
    if handle_ids is not None:
        query = query.where(
            exists().where(
                connection_handles.c.connection_id == Sale.connection_id,
                connection_handles.c.handle_id.in_(list(handle_ids)),
            )
        )
    return query
