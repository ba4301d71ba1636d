"""The report time zone and the rollup rebuild: re-date visits and recount every rollup from the
raw rows (`leadlink rollups rebuild`); the rollups of days whose raw rows were pruned are kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.leads.models import Lead, LeadStatus
from app.links.models import EXTERNAL_PAGE_ID, VariantRollup, Visit, VisitorDay, VisitRollup
from app.links.retention import pruned_before
from app.links.visits import LEDGER_DAYS_KEPT
from app.reports.models import (
    LeadRollup,
    ReportDay,
    ReportMonth,
    ReportZoneOffset,
    SocialMetric,
)
from app.reports.timezones import (
    local_day_params,
    local_day_sql,
    offset_segments,
    zone,
)

__all__ = [
    "REBUILD_STEPS",
    "RebuildResult",
    "rebuild_rollups",
    "set_report_zone",
    "stored_report_zone",
    "sync_report_zone",
]

_CONFIRMED_STATES = (LeadStatus.CONFIRMED.value, LeadStatus.CUSTOMER.value)


def _upsert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert


@dataclass(frozen=True, slots=True)
class RebuildResult:
    redated_visits: int
    rollup_rows: int


ZONE_SPAN = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


async def stored_report_zone(session: AsyncSession) -> str:
    """The time zone the rollups are kept in (UTC until a rebuild sets another)."""
    stored = await session.scalar(select(ReportZoneOffset.zone).limit(1))
    return stored or "UTC"


async def set_report_zone(session: AsyncSession, tz: str | ZoneInfo) -> None:
    """Store the UTC offsets of `tz` from 1970 to 2100, from which the lead triggers take each
    new lead's local day. Only `rebuild_rollups` (or an empty database) should change it: the
    rollups already written keep the days of the zone they were written in."""
    zone_info = tz if isinstance(tz, ZoneInfo) else zone(tz)
    await session.execute(delete(ReportZoneOffset))
    await session.execute(
        insert(ReportZoneOffset),
        [
            {
                "starts": segment.starts,
                "zone": zone_info.key,
                "offset_seconds": int(segment.offset.total_seconds()),
            }
            for segment in offset_segments(zone_info, *ZONE_SPAN)
        ],
    )


async def sync_report_zone(session: AsyncSession, tz: str) -> bool:
    """Make the rollups' zone `tz` while there is nothing to re-date (no visits, no leads);
    False when data exists in another zone, which `rebuild_rollups` must convert."""
    if await stored_report_zone(session) == zone(tz).key:
        return True
    # The rollups, not the raw rows: these may all have been pruned.
    has_visits = await session.scalar(select(VisitRollup.day).limit(1))
    has_leads = await session.scalar(select(Lead.id).limit(1))
    if has_visits is not None or has_leads is not None:
        return False
    await set_report_zone(session, tz)
    return True


def _lead_day_in_stored_zone(dialect: str) -> ColumnElement[date]:
    """The SQL the lead triggers compute a lead's day with (see the 0006 migration)."""
    if dialect == "postgresql":
        return type_coerce(func.report_lead_day(Lead.created_at), Date)
    offset = (
        select(ReportZoneOffset.offset_seconds)
        .where(ReportZoneOffset.starts <= Lead.created_at)
        .order_by(ReportZoneOffset.starts.desc())
        .limit(1)
        .scalar_subquery()
    )
    seconds = func.coalesce(offset, 0).concat(" seconds")
    return type_coerce(func.date(func.substr(Lead.created_at, 1, 19), seconds), Date)


# The statements `rebuild_rollups` reports through `step_done`, for a progress bar's total.
REBUILD_STEPS = 5


def _no_progress() -> None:
    return None


async def rebuild_rollups(
    session: AsyncSession, tz: str | ZoneInfo, *, step_done: Callable[[], None] = _no_progress
) -> RebuildResult:
    """Make `tz` the report time zone and recompute everything kept per day from the raw rows,
    in the caller's transaction: `visits.day`, `visit_rollups`, `variant_rollups`,
    `lead_rollups` (whose triggers then refill `report_days` and `report_months`) and the recent
    unique-visitor ledger.

    Raw visits from before the retention's cutoff (`pruned_before`) are gone: the visit and
    variant rollups of those days are kept as they are, in the zone they were written in, and
    the raw rows still dated before the cutoff (a prune under way) are removed, since those
    rollups count them already. A visit re-dated across the cutoff is added to the kept day's
    counts, so every visit is counted once; unique visitors of that one day are added up.

    For `leadlink rollups rebuild` after LEADLINK_REPORT_TZ changes (or to repair rollups). On
    PostgreSQL the tables are locked against concurrent writers until commit; on SQLite the
    write transaction already excludes them. `step_done` is called after each of the
    `REBUILD_STEPS` steps.
    """
    zone_info = tz if isinstance(tz, ZoneInfo) else zone(tz)
    connection = await session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        await session.execute(
            text(
                "LOCK TABLE visits, visit_rollups, variant_rollups, visitor_days, leads, "
                "lead_rollups, report_days, report_months IN SHARE ROW EXCLUSIVE MODE"
            )
        )
    await set_report_zone(session, zone_info)
    kept_before = await pruned_before(session)
    if kept_before is not None:
        await session.execute(delete(Visit).where(Visit.day < kept_before))
        await session.execute(
            text(
                "CREATE TEMPORARY TABLE kept_visit_rollups AS "
                "SELECT * FROM visit_rollups WHERE day < :day"
            ).bindparams(bindparam("day", kept_before, type_=Date))
        )
        await session.execute(delete(VariantRollup).where(VariantRollup.day >= kept_before))
    else:
        await session.execute(delete(VariantRollup))
    redated = 0
    bounds = (
        await session.execute(select(func.min(Visit.created_at), func.max(Visit.created_at)))
    ).one()
    if bounds[0] is not None:
        low, high = bounds[0], bounds[1] + timedelta(seconds=1)
        segments, params = local_day_params(dialect, zone_info, low, high)
        local_day = local_day_sql(Visit.created_at, dialect, segments)
        result = await connection.execute(
            update(Visit).where(Visit.day != local_day).values(day=local_day), params
        )
        redated = result.rowcount
    step_done()

    # Emptying the rollups empties the per-source ones through their triggers; what is left
    # there is cleared too before everything is recounted.
    for table in (VisitRollup, LeadRollup, ReportDay, ReportMonth):
        await session.execute(delete(table))
    if kept_before is not None:
        await session.execute(text("INSERT INTO visit_rollups SELECT * FROM kept_visit_rollups"))
        await session.execute(text("DROP TABLE kept_visit_rollups"))
    upsert = _upsert(session)
    page = func.coalesce(Visit.page_id, EXTERNAL_PAGE_ID)
    is_visit = Visit.kind == "visit"
    counted = upsert(VisitRollup).from_select(
        ["day", "handle_id", "page_id", "source", "visits", "unique_visitors", "previews"],
        select(
            Visit.day,
            Visit.handle_id,
            page,
            Visit.source,
            func.sum(case((is_visit, 1), else_=0)),
            func.count(func.distinct(case((is_visit, Visit.visitor_hash)))),
            func.sum(case((is_visit, 0), else_=1)),
        )
        .where(true())  # `WHERE` settles SQLite's INSERT … SELECT … ON CONFLICT grammar
        .group_by(Visit.day, Visit.handle_id, page, Visit.source),
    )
    await session.execute(
        counted.on_conflict_do_update(  # a visit re-dated onto a kept day adds to its counts
            index_elements=["day", "handle_id", "page_id", "source"],
            set_={
                measure: getattr(VisitRollup, measure) + getattr(counted.excluded, measure)
                for measure in ("visits", "unique_visitors", "previews")
            },
        )
    )
    variants = upsert(VariantRollup).from_select(
        ["day", "handle_id", "route_id", "source", "visits"],
        select(Visit.day, Visit.handle_id, Visit.route_id, Visit.source, func.count())
        .where(is_visit, Visit.route_id.is_not(None))
        .group_by(Visit.day, Visit.handle_id, Visit.route_id, Visit.source),
    )
    await session.execute(
        variants.on_conflict_do_update(
            index_elements=["day", "handle_id", "route_id", "source"],
            set_={"visits": VariantRollup.visits + variants.excluded.visits},
        )
    )
    step_done()
    confirmed = or_(Lead.confirmed_at.is_not(None), Lead.status.in_(_CONFIRMED_STATES))
    customer = or_(Lead.customer_at.is_not(None), Lead.status == LeadStatus.CUSTOMER.value)
    facts = select(
        _lead_day_in_stored_zone(dialect).label("day"),
        Lead.handle_id,
        Lead.page_id,
        Lead.source,
        case((confirmed, 1), else_=0).label("confirmed"),
        case((customer, 1), else_=0).label("customer"),
    ).subquery()
    keys = (facts.c.day, facts.c.handle_id, facts.c.page_id, facts.c.source)
    await session.execute(
        insert(LeadRollup).from_select(
            ["day", "handle_id", "page_id", "source", "leads", "confirmed_leads", "customers"],
            select(
                *keys, func.count(), func.sum(facts.c.confirmed), func.sum(facts.c.customer)
            ).group_by(*keys),
        )
    )
    step_done()
    # Likes live in the per-source rollups only: add the snapshots back (the day rollups'
    # trigger passes them on to the months).
    likes = select(
        SocialMetric.day,
        SocialMetric.handle_id,
        SocialMetric.platform,
        func.sum(SocialMetric.likes),
        func.count(SocialMetric.likes),
    ).where(SocialMetric.likes.is_not(None))  # `WHERE` also settles SQLite's upsert grammar
    likes_upsert = upsert(ReportDay).from_select(
        ["day", "handle_id", "source", "likes", "likes_known"],
        likes.group_by(SocialMetric.day, SocialMetric.handle_id, SocialMetric.platform),
    )
    await session.execute(
        likes_upsert.on_conflict_do_update(
            index_elements=["day", "handle_id", "source"],
            set_={
                "likes": ReportDay.likes + likes_upsert.excluded.likes,
                "likes_known": ReportDay.likes_known + likes_upsert.excluded.likes_known,
            },
        )
    )
    rollup_rows = int(await session.scalar(select(func.count()).select_from(VisitRollup)) or 0)
    step_done()

    # The ledger decides which later visits are new visitors: make it match the re-dated rows.
    today = datetime.now(zone_info).date()
    await session.execute(delete(VisitorDay))
    await session.execute(
        insert(VisitorDay).from_select(
            ["day", "handle_id", "page_id", "source", "visitor_hash"],
            select(Visit.day, Visit.handle_id, page, Visit.source, Visit.visitor_hash)
            .where(is_visit, Visit.day >= today - timedelta(days=LEDGER_DAYS_KEPT))
            .distinct(),
        )
    )
    step_done()
    return RebuildResult(redated_visits=redated, rollup_rows=rollup_rows)
