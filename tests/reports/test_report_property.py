"""Property-style check of the conversion report: random visits, previews, leads with status
changes and erasures, and metric snapshots across days, time zones and DST changes; every report
row must equal a brute-force count over the raw rows (the oracle below, which may loop).

Each seed builds its own data set inside the test's rolled-back transaction, then asks for every
grouping, several scopes (a handle, a page, all handles, one source) and ranges whose edges fall
on DST changes; after `rebuild_rollups` into another time zone the report must match the oracle
for that zone too.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import Lead
from app.links.models import Visit
from app.links.sources import CANONICAL_SOURCES
from app.links.visits import write_visits
from app.pages.models import Page
from app.reports import rollups, social_metrics
from app.reports import service as reports
from app.reports.models import SocialMetric
from app.reports.timezones import week_start
from tests.factories import add_handle, create_published_page, insert_lead, make_visit

SOURCES = ["instagram", "tiktok", "x", "youtube", "direct"]
# Windows around DST changes: US and NZ in March/April, and in September-November.
WINDOWS = [(date(2026, 3, 2), date(2026, 4, 12)), (date(2026, 9, 20), date(2026, 11, 8))]
ZONES = ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland"]
CASES = [(zone_name, seed) for seed, zone_name in enumerate(ZONES)]


EMPTY = {
    "likes": None,
    "followers": None,
    "visits": 0,
    "unique_visitors": 0,
    "previews": 0,
    "leads": 0,
    "confirmed_leads": 0,
    "customers": 0,
    "visit_to_lead": None,
    "like_to_lead": None,
    "lead_to_customer": None,
}


@dataclass
class World:
    handles: list[Handle]
    pages: list[Page]
    start: date
    end: date


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _random_instant(rng: random.Random, start: date, end: date, tz: ZoneInfo) -> datetime:
    """Mostly uniform; one in four right at (or a microsecond around) a local midnight."""
    day = start + timedelta(days=rng.randrange((end - start).days + 1))
    if rng.random() < 0.25:
        jitter = rng.choice([timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1)])
        instant = _local_midnight(day, tz) + jitter
    else:
        low, high = _local_midnight(day, tz), _local_midnight(day + timedelta(days=1), tz)
        instant = low + timedelta(seconds=rng.randrange(int((high - low).total_seconds())))
    return instant


async def build_world(session: AsyncSession, rng: random.Random, tz: ZoneInfo) -> World:
    # The report time zone of this instance (as `leadlink migrate` sets it on an empty database).
    assert await rollups.sync_report_zone(session, tz.key)
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    pages = [
        await create_published_page(session, anna, "anna-book"),
        await create_published_page(session, anna, "anna-course"),
        await create_published_page(session, bob, "bob-kit"),
    ]
    start, end = rng.choice(WINDOWS)
    visitors = [f"{n:032x}" for n in range(12)]  # few visitors, so uniques < visits
    records = []
    for _ in range(rng.randrange(150, 300)):
        page = rng.choice([*pages, None])
        handle = anna if page is None or page.handle_id == anna.id else bob
        records.append(
            make_visit(
                handle.id,
                page.id if page else None,
                _random_instant(rng, start, end, tz),
                tz,
                kind="preview" if rng.random() < 0.15 else "visit",
                source=rng.choice(SOURCES),
                visitor=rng.choice(visitors),
            )
        )
    # Several batches, as the write-behind writer sends them.
    for offset in range(0, len(records), 64):
        await write_visits(session, records[offset : offset + 64])

    lead_ids = []
    for _ in range(rng.randrange(40, 90)):
        created = _random_instant(rng, start, end, tz)
        status = rng.choice(["pending", "confirmed", "unsubscribed", "customer"])
        later = created + timedelta(hours=rng.randrange(1, 72))
        confirmed_at = later if status != "pending" and rng.random() < 0.9 else None
        lead_ids.append(
            await insert_lead(
                session,
                rng.choice(pages),
                created,
                source=rng.choice(SOURCES),
                status=status,
                confirmed_at=confirmed_at,
                customer_at=later if status == "customer" and rng.random() < 0.8 else None,
                erased=rng.random() < 0.1,
            )
        )
    # Status changes after the fact: some pending leads confirm days later, some customers come.
    for lead_id in rng.sample(lead_ids, k=len(lead_ids) // 4):
        change = rng.choice(["confirm", "customer", "unsubscribe", "erase"])
        changes: dict[str, dict[str, Any]] = {
            "confirm": {"status": "confirmed", "confirmed_at": datetime(2027, 1, 1, tzinfo=UTC)},
            "customer": {"status": "customer", "customer_at": datetime(2027, 1, 2, tzinfo=UTC)},
            "unsubscribe": {"status": "unsubscribed"},
            "erase": {"email": f"erased-{lead_id}", "name": None, "erased_at": datetime.now(UTC)},
        }
        await session.execute(update(Lead).where(Lead.id == lead_id).values(**changes[change]))

    snapshots = []
    for handle in (anna, bob):
        for platform in SOURCES[:4]:
            for offset in range((end - start).days + 1):
                if rng.random() < 0.4:
                    snapshots.append(
                        social_metrics.MetricSnapshot(
                            handle.id,
                            platform,
                            start + timedelta(days=offset),
                            **{
                                name: rng.choice([None, rng.randrange(0, 5000)])
                                for name in ("likes", "followers", "impressions")
                            },
                        )
                    )
    await social_metrics.upsert_social_metrics(session, snapshots)
    # A second, partial batch for some of the same days: merged into the stored snapshots.
    await social_metrics.upsert_social_metrics(
        session,
        [
            social_metrics.MetricSnapshot(s.handle_id, s.platform, s.day, likes=rng.randrange(100))
            for s in rng.sample(snapshots, k=len(snapshots) // 5)
        ],
    )
    return World([anna, bob], pages, start, end)


# --- the oracle: brute force over the raw rows ---------------------------------------------------


@dataclass
class Raw:
    visits: list[Any]
    leads: list[Any]
    metrics: list[Any]


async def load_raw(session: AsyncSession) -> Raw:
    """Every raw row, as plain rows (the oracle reads each many times)."""
    visits = await session.execute(
        select(Visit.created_at, Visit.kind, Visit.handle_id, Visit.page_id, Visit.source,
               Visit.visitor_hash)
    )  # fmt: skip
    leads = await session.execute(
        select(Lead.created_at, Lead.handle_id, Lead.page_id, Lead.source, Lead.status,
               Lead.confirmed_at, Lead.customer_at)
    )  # fmt: skip
    metrics = await session.execute(
        select(SocialMetric.handle_id, SocialMetric.platform, SocialMetric.day,
               SocialMetric.likes, SocialMetric.followers)
    )  # fmt: skip
    return Raw(list(visits.all()), list(leads.all()), list(metrics.all()))


def _key(group_by: str, *, source: str | None, day: date | None, page_id: int | None) -> Any:
    if group_by == "source":
        return source
    if group_by == "day":
        return day
    if group_by == "week":
        return week_start(day) if day else None
    if group_by == "page":
        return page_id
    return (source, day)


def oracle(
    raw: Raw,
    *,
    group_by: str,
    tz: ZoneInfo,
    start: date,
    end: date,
    handle_ids: set[int] | None,
    page_id: int | None,
    source: str | None,
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Expected rows by group key, and the expected totals, counted one raw row at a time."""

    def in_scope(handle_id: int, row_page: int | None, row_source: str) -> bool:
        return (
            (handle_ids is None or handle_id in handle_ids)
            and (page_id is None or row_page == page_id)
            and (source is None or row_source == source)
        )

    def new_group() -> dict[str, Any]:
        return {"visits": 0, "previews": 0, "uniques": set(), "leads": 0, "confirmed": 0,
                "customers": 0, "metrics": []}  # fmt: skip

    groups: defaultdict[Any, dict[str, Any]] = defaultdict(new_group)
    totals = new_group()
    for visit in raw.visits:
        day = visit.created_at.astimezone(tz).date()
        if not start <= day <= end or not in_scope(visit.handle_id, visit.page_id, visit.source):
            continue
        page = visit.page_id or 0
        key = _key(group_by, source=visit.source, day=day, page_id=page)
        for bucket in (groups[key], totals):
            if visit.kind == "visit":
                bucket["visits"] += 1
                bucket["uniques"].add(
                    (day, visit.handle_id, page, visit.source, visit.visitor_hash)
                )
            else:
                bucket["previews"] += 1
    for lead in raw.leads:
        day = lead.created_at.astimezone(tz).date()
        if not start <= day <= end or not in_scope(lead.handle_id, lead.page_id, lead.source):
            continue
        key = _key(group_by, source=lead.source, day=day, page_id=lead.page_id)
        for bucket in (groups[key], totals):
            bucket["leads"] += 1
            bucket["confirmed"] += int(
                lead.confirmed_at is not None or lead.status in {"confirmed", "customer"}
            )
            bucket["customers"] += int(lead.customer_at is not None or lead.status == "customer")
    metric_handles = handle_ids
    for metric in raw.metrics:
        if not start <= metric.day <= end:
            continue
        if metric.likes is None and metric.followers is None:
            continue  # a snapshot of neither likes nor followers adds nothing to a report
        if metric_handles is not None and metric.handle_id not in metric_handles:
            continue
        if source is not None and metric.platform != source:
            continue
        totals["metrics"].append(metric)
        if group_by != "page":
            groups[_key(group_by, source=metric.platform, day=metric.day, page_id=None)][
                "metrics"
            ].append(metric)

    def finish(bucket: dict[str, Any], *, with_metrics: bool) -> dict[str, Any]:
        likes_known = [m.likes for m in bucket["metrics"] if m.likes is not None]
        latest: dict[tuple[int, str], Any] = {}
        for m in bucket["metrics"]:
            if m.followers is None:
                continue
            seen = latest.get((m.handle_id, m.platform))
            if seen is None or m.day > seen.day:
                latest[(m.handle_id, m.platform)] = m
        likes = sum(likes_known) if likes_known and with_metrics else None
        followers = sum(m.followers for m in latest.values()) if latest and with_metrics else None
        visits, leads, customers = bucket["visits"], bucket["leads"], bucket["customers"]
        return {
            "likes": likes,
            "followers": followers,
            "visits": visits,
            "unique_visitors": len(bucket["uniques"]),
            "previews": bucket["previews"],
            "leads": leads,
            "confirmed_leads": bucket["confirmed"],
            "customers": customers,
            "visit_to_lead": leads / visits if visits else None,
            "like_to_lead": leads / likes if likes else None,
            "lead_to_customer": customers / leads if leads else None,
        }

    expected = {
        key: finish(bucket, with_metrics=group_by != "page") for key, bucket in groups.items()
    }
    return expected, finish(totals, with_metrics=True)


def _row_key(group_by: str, row: reports.ReportRow) -> Any:
    return {
        "source": row.source,
        "day": row.day,
        "week": row.week,
        "page": row.page_id or 0,  # external URLs are page null in the report, 0 in rollups
        "source,day": (row.source, row.day),
    }[group_by]


def _numbers(row: reports.ReportRow) -> dict[str, Any]:
    values = row.fields_for("source")
    values.pop("source")
    return values


async def check_reports(
    session: AsyncSession, world: World, tz: ZoneInfo, rng: random.Random
) -> int:
    """Compare every row of many reports with the oracle; returns how many rows were checked."""
    raw = await load_raw(session)
    anna, bob = world.handles
    page = world.pages[0]
    scopes: list[dict[str, Any]] = [
        {"handle": anna, "page": None, "handle_ids": None, "source": None},
        {"handle": None, "page": page, "handle_ids": None, "source": None},
        {"handle": None, "page": None, "handle_ids": None, "source": None},
        {"handle": None, "page": None, "handle_ids": [bob.id], "source": None},
        {"handle": anna, "page": None, "handle_ids": None, "source": rng.choice(SOURCES)},
    ]
    inner_start = world.start + timedelta(days=rng.randrange(10))
    inner = (inner_start, inner_start + timedelta(days=9))
    checked = 0
    for group_by in reports.GROUPINGS:
        # Every scope over the whole window, and two of them over ten days inside it.
        cases = [(scope, (world.start, world.end)) for scope in scopes]
        cases += [(scope, inner) for scope in rng.sample(scopes, 2)]
        for scope, (start, end) in cases:
            report = await reports.conversion_report(
                session, start=start, end=end, group_by=group_by, tz=tz, **scope
            )
            if scope["page"] is not None:
                handle_ids: set[int] | None = {scope["page"].handle_id}
            elif scope["handle"] is not None:
                handle_ids = {scope["handle"].id}
            else:
                handle_ids = set(scope["handle_ids"]) if scope["handle_ids"] else None
            expected, totals = oracle(
                raw,
                group_by=group_by,
                tz=tz,
                start=start,
                end=end,
                handle_ids=handle_ids,
                page_id=scope["page"].id if scope["page"] else None,
                source=scope["source"],
            )
            context = f"{group_by} {scope} {start}..{end} {tz.key}"
            got = {_row_key(group_by, row): _numbers(row) for row in report.rows}
            assert len(got) == len(report.rows), f"duplicate group rows: {context}"
            if group_by in {"day", "week"}:
                # Dense: every day (week) of the range has a row, zeros where nothing happened.
                for key in got:
                    expected.setdefault(key, EMPTY)
                first = start if group_by == "day" else week_start(start)
                assert min(got) == first, context
                assert max(got) <= end, context
            differences = {
                key: {
                    name: (value, expected.get(key, {}).get(name))
                    for name, value in row.items()
                    if expected.get(key, {}).get(name) != value
                }
                for key, row in got.items()
                if row != expected.get(key)
            }
            assert not differences, f"{context}: (report, oracle) {differences}"
            assert set(got) == set(expected), context
            assert _numbers(report.totals) == totals, f"totals: {context}"
            if group_by == "source" and scope["source"] is None:
                assert [r.source for r in report.rows] == [
                    s for s in CANONICAL_SOURCES if s in got
                ], context
            checked += len(report.rows) + 1
    return checked


@pytest.mark.parametrize(("zone_name", "seed"), CASES)
async def test_every_report_row_equals_a_brute_force_count(
    session: AsyncSession, zone_name: str, seed: int
) -> None:
    rng = random.Random(seed)
    tz = ZoneInfo(zone_name)
    world = await build_world(session, rng, tz)
    assert await check_reports(session, world, tz, rng) > 100

    # The report time zone changes: rebuilding re-dates the visits and recomputes the rollups,
    # after which the report in the new zone matches the oracle for the new zone.
    other = ZoneInfo(ZONES[(ZONES.index(zone_name) + 1) % len(ZONES)])
    result = await rollups.rebuild_rollups(session, other)
    assert result.rollup_rows > 0
    await check_reports(session, world, other, rng)
