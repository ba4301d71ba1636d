"""The report's service functions: CSV import, snapshot upserts, the A/B statistics, the UTC
offsets of a time zone, and the rollups' triggers when leads change or go."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import Lead
from app.links.visits import write_visits
from app.reports import social_metrics, variants
from app.reports.models import LeadRollup, ReportDay, ReportMonth, SocialMetric
from app.reports.timezones import local_midnight_utc, offset_segments, utc_bounds
from tests.factories import add_handle, create_published_page, insert_lead, make_visit

CSV = """date,platform,likes,followers,impressions,comments,shares
2026-11-20,instagram,1200,5000,,,
2026-11-21,ig,"1,300",5040,30000,20,4

2026-11-31,tiktok,5,,,,
2026-11-21,myspace,1,,,,
2026-11-22,tiktok,-4,,,,
2026-11-22,youtube,10,20,30,40,50,60
2026-11-22,tiktok,7,,,,
"""


async def test_a_csv_import_keeps_good_rows_and_names_bad_lines(session: AsyncSession) -> None:
    anna = await add_handle(session, "anna")
    result = await social_metrics.import_social_metrics_csv(session, anna, CSV)
    assert result.imported == 3
    assert result.errors == [
        (5, "date must be YYYY-MM-DD, not '2026-11-31'"),
        (6, "unknown platform 'myspace'"),
        (7, "likes must be a whole number of 0 or more, not '-4'"),
        (8, "8 values for 7 columns"),
    ]
    stored = (
        await session.execute(
            select(SocialMetric.day, SocialMetric.platform, SocialMetric.likes,
                   SocialMetric.followers, SocialMetric.impressions)
            .order_by(SocialMetric.day, SocialMetric.platform)
        )
    ).all()  # fmt: skip
    assert [tuple(row) for row in stored] == [
        (date(2026, 11, 20), "instagram", 1200, 5000, None),
        (date(2026, 11, 21), "instagram", 1300, 5040, 30000),
        (date(2026, 11, 22), "tiktok", 7, None, None),
    ]
    # Importing the same file again changes nothing.
    again = await social_metrics.import_social_metrics_csv(session, anna, CSV)
    assert again.imported == 3
    count = await session.scalar(select(func.count()).select_from(SocialMetric))
    assert count == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("day,network,likes\n2026-11-20,instagram,3\n", "the first line must be the header"),
    ],
)
async def test_a_csv_without_its_header_imports_nothing(
    session: AsyncSession, text: str, message: str
) -> None:
    anna = await add_handle(session, "anna")
    result = await social_metrics.import_social_metrics_csv(session, anna, text)
    assert result.imported == 0
    assert result.errors[0][0] == 1
    assert message in result.errors[0][1]


async def test_likes_reach_the_day_and_month_rollups(session: AsyncSession) -> None:
    anna = await add_handle(session, "anna")
    day = date(2026, 10, 31)
    await social_metrics.upsert_social_metrics(
        session,
        [
            social_metrics.MetricSnapshot(anna.id, "tiktok", day, likes=40),
            social_metrics.MetricSnapshot(anna.id, "tiktok", day + timedelta(days=1), followers=9),
        ],
    )
    await social_metrics.upsert_social_metrics(
        session, [social_metrics.MetricSnapshot(anna.id, "tiktok", day, likes=45)]
    )
    days = (
        await session.execute(select(ReportDay.day, ReportDay.likes, ReportDay.likes_known))
    ).all()
    assert [tuple(row) for row in days] == [(day, 45, 1)]  # no row for a day without likes
    months = (await session.execute(select(ReportMonth.month, ReportMonth.likes))).all()
    assert [tuple(row) for row in months] == [(date(2026, 10, 1), 45)]


async def test_lead_rollups_follow_status_changes_and_deletions(session: AsyncSession) -> None:
    anna = await add_handle(session, "anna")
    page = await create_published_page(session, anna, "anna-guide")
    at = datetime(2026, 11, 3, 12, tzinfo=UTC)
    first = await insert_lead(session, page, at)
    second = await insert_lead(session, page, at, source="tiktok")

    async def rollups() -> list[tuple[object, ...]]:
        rows = await session.execute(
            select(LeadRollup.source, LeadRollup.leads, LeadRollup.confirmed_leads,
                   LeadRollup.customers).order_by(LeadRollup.source)
        )  # fmt: skip
        return [tuple(row) for row in rows]

    assert await rollups() == [("instagram", 1, 0, 0), ("tiktok", 1, 0, 0)]
    await session.execute(
        update(Lead).where(Lead.id == first).values(status="customer", customer_at=at)
    )
    await session.execute(update(Lead).where(Lead.id == second).values(source="x"))
    assert await rollups() == [("instagram", 1, 1, 1), ("x", 1, 0, 0)]
    await session.execute(delete(Lead).where(Lead.id == second))
    assert await rollups() == [("instagram", 1, 1, 1)]
    day_rows = (await session.execute(select(ReportDay.source, ReportDay.leads))).all()
    assert [tuple(row) for row in day_rows] == [("instagram", 1)]


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (20, 100, 0.1334, 0.2888),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_the_wilson_interval_matches_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = variants.wilson_interval(successes, trials)
    assert interval is not None
    assert interval == pytest.approx((low, high), abs=1e-4)


def test_no_trials_have_no_interval() -> None:
    assert variants.wilson_interval(0, 0) is None


@pytest.mark.parametrize(
    "arms",
    [[(5, 100), (20, 100)], [(10, 100), (12, 100)], [(1, 3), (2, 3), (0, 3)], [(0, 0), (0, 0)]],
)
def test_p_best_agrees_with_a_monte_carlo_estimate(arms: list[tuple[int, int]]) -> None:
    rng = random.Random(7)
    draws = 20_000
    wins = [0] * len(arms)
    for _ in range(draws):
        samples = [rng.betavariate(1 + leads, 1 + visits - leads) for leads, visits in arms]
        wins[samples.index(max(samples))] += 1
    chances = variants.p_best(arms)
    assert sum(chances) == pytest.approx(1)
    assert chances == pytest.approx([w / draws for w in wins], abs=0.015)


def test_p_best_of_one_variant_is_certain() -> None:
    assert variants.p_best([(3, 40)]) == [1.0]
    assert variants.p_best([]) == []


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/Los_Angeles", date(2026, 3, 8), 23),
        ("America/Los_Angeles", date(2026, 11, 1), 25),
        ("Pacific/Auckland", date(2026, 4, 5), 25),
        ("Pacific/Auckland", date(2026, 9, 27), 23),
        ("Asia/Kolkata", date(2026, 3, 8), 24),
    ],
)
def test_local_days_are_as_long_as_the_clock_says(zone: str, day: date, hours: int) -> None:
    tz = ZoneInfo(zone)
    low, high = utc_bounds(day, day, tz)
    assert high - low == timedelta(hours=hours)
    segments = offset_segments(tz, low - timedelta(days=2), high + timedelta(days=2))
    assert len(segments) == (1 if hours == 24 else 2)
    if hours != 24:
        change = segments[1].starts
        assert low < change < high
        before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
        assert before == segments[0].offset
        assert change.astimezone(tz).utcoffset() == segments[1].offset
    assert local_midnight_utc(day, tz).astimezone(tz).date() == day


async def test_deleting_a_handle_takes_its_rollups_along(session: AsyncSession) -> None:
    gone = await add_handle(session, "gone")
    stays = await add_handle(session, "stays")
    at = datetime(2026, 11, 3, 12, tzinfo=UTC)
    utc = ZoneInfo("UTC")
    await write_visits(
        session, [make_visit(h.id, None, at, utc) for h in (gone, stays) for _ in range(3)]
    )
    await social_metrics.upsert_social_metrics(
        session, [social_metrics.MetricSnapshot(gone.id, "x", at.date(), likes=5)]
    )
    await session.execute(delete(Handle).where(Handle.id == gone.id))
    for table in (ReportDay, ReportMonth):
        handles = (await session.execute(select(table.handle_id, table.visits))).all()
        assert [tuple(row) for row in handles] == [(stays.id, 3)]
