"""Pruning raw visits on real, separately committed databases: only rows from before the cutoff
go and every rollup keeps its counts; two pruners at once delete each row once; the day's run is
claimed once, by the worker's task or a `leadlink worker` process; on PostgreSQL whole months go
as dropped partitions, and an insert never fails for want of a partition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.db import Database, create_engine, utcnow
from app.links import partitions, retention
from app.links import service as links
from app.links.models import VisitPrune
from app.links.retention_task import VisitRetention
from app.links.visits import VisitRecord, write_visits
from app.pages import service as pages
from tests.cli_runner import invoke_leadlink, run_worker_until, sqlite_rows
from tests.databases import BACKENDS, DatabaseUnderTest, FreshDatabases, make_settings
from tests.factories import make_visit
from tests.servers import serve_env
from tests.waiting import eventually

UTC_ZONE = ZoneInfo("UTC")
DAYS_OF_VISITS = 150
RETENTION_DAYS = 40
ROLLUPS = (
    "SELECT day, handle_id, page_id, source, visits, unique_visitors, previews "
    "FROM visit_rollups ORDER BY 1, 2, 3, 4",
    "SELECT day, handle_id, route_id, source, visits FROM variant_rollups ORDER BY 1, 2, 3, 4",
    "SELECT day, handle_id, source, visits, unique_visitors, previews FROM report_days "
    "ORDER BY 1, 2, 3",
    "SELECT month, handle_id, source, visits FROM report_months ORDER BY 1, 2, 3",
)


@dataclass
class Seeded:
    under_test: DatabaseUnderTest
    database: Database
    records: list[VisitRecord]
    today: date

    @property
    def partitioned(self) -> bool:
        return self.under_test.backend == "postgresql"

    def cutoff(self, days: int = RETENTION_DAYS) -> date:
        return retention.kept_from(self.today, days, whole_months=self.partitioned)

    def refs_from(self, cutoff: date) -> set[str]:
        return {record.ref for record in self.records if record.day >= cutoff}


async def _seed(database: Database, backend: str, now: datetime) -> list[VisitRecord]:
    """Two handles, an A/B test of two pages on one, a visit of each variant, one of the default
    page and a preview every day for `DAYS_OF_VISITS` days. On PostgreSQL the months' partitions
    exist from the second month on (as the worker would have made them); the oldest month's
    rows are in the DEFAULT partition."""
    today = now.date()
    async with database.session() as session:
        records = []
        for name in ("anna", "ben"):
            handle = await links.create_handle(session, name)
            page_a = await pages.create_page(session, handle, slug=f"{name}-a", title="A")
            page_b = await pages.create_page(session, handle, slug=f"{name}-b", title="B")
            for page in (page_a, page_b):
                await pages.publish_page(session, page)
            routes = [
                await links.add_route(session, handle, page_slug=page.slug, variant=page.slug)
                for page in (page_a, page_b)
            ]
            for days_ago in range(DAYS_OF_VISITS):
                at = now - timedelta(days=days_ago)
                for route in routes:
                    records.append(
                        make_visit(
                            handle.id, route.page_id, at, UTC_ZONE,
                            route_id=route.id, variant=route.variant,
                            source=("instagram", "tiktok")[days_ago % 2],
                        )
                    )  # fmt: skip
                records.append(make_visit(handle.id, page_a.id, at, UTC_ZONE))
                records.append(make_visit(handle.id, None, at, UTC_ZONE, kind="preview"))
        if backend == "postgresql":
            oldest = today - timedelta(days=DAYS_OF_VISITS)
            await partitions.ensure_months(session, partitions.month_start(oldest, 1), 8)
        await session.commit()
    for start in range(0, len(records), 500):
        async with database.session() as session:
            await write_visits(session, records[start : start + 500])
            await session.commit()
    return records


@pytest.fixture(params=BACKENDS)
async def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[Seeded]:
    under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    database = Database(under_test.engine, owns_engine=False)
    now = utcnow()
    try:
        records = await _seed(database, request.param, now)
        yield Seeded(under_test, database, records, now.date())
    finally:
        await cleanup()


async def _refs(seeded: Seeded) -> set[str]:
    async with seeded.under_test.engine.connect() as connection:
        return set((await connection.scalars(text("SELECT ref FROM visits"))).all())


async def _rollups(seeded: Seeded) -> list[list[tuple[Any, ...]]]:
    async with seeded.under_test.engine.connect() as connection:
        return [[tuple(row) for row in await connection.execute(text(query))] for query in ROLLUPS]


def test_the_cutoff_keeps_at_least_the_days_asked_for() -> None:
    today = date(2026, 12, 6)
    assert retention.kept_from(today, 40, whole_months=False) == date(2026, 10, 27)
    assert retention.kept_from(today, 40, whole_months=True) == date(2026, 10, 1)
    assert retention.kept_from(today, 400, whole_months=True) == date(2025, 11, 1)


async def test_prune_removes_only_rows_before_the_cutoff_and_keeps_every_rollup(
    seeded: Seeded,
) -> None:
    cutoff = seeded.cutoff()
    old = len(seeded.records) - len(seeded.refs_from(cutoff))
    rollups = await _rollups(seeded)
    assert old > 0

    dry = await retention.prune_visits(seeded.database, cutoff, dry_run=True)
    assert (dry.visits_deleted, dry.dry_run) == (old, True)
    assert len(await _refs(seeded)) == len(seeded.records)

    # Small batches: many transactions per handle on SQLite (and the DEFAULT partition).
    result = await retention.prune_visits(seeded.database, cutoff, batch_size=7)

    assert result.visits_deleted == old
    assert result.partitions_dropped == dry.partitions_dropped
    if seeded.partitioned:
        first_partition = partitions.month_start(seeded.today - timedelta(DAYS_OF_VISITS), 1)
        months = []
        month = first_partition
        while month < cutoff:
            months.append(partitions.partition_name(month))
            month = partitions.month_start(month, 1)
        assert result.partitions_dropped == tuple(months)
        assert len(months) >= 2
        async with seeded.database.session(write=False) as session:
            remaining = await partitions.month_partitions(session)
        assert min(partition.start for partition in remaining) == cutoff
    else:
        assert result.partitions_dropped == ()
    assert await _refs(seeded) == seeded.refs_from(cutoff)
    assert await _rollups(seeded) == rollups

    again = await retention.prune_visits(seeded.database, cutoff)
    assert (again.visits_deleted, again.partitions_dropped) == (0, ())


async def test_two_pruners_at_once_delete_each_row_once(seeded: Seeded) -> None:
    cutoff = seeded.cutoff()
    other = Database(create_engine(seeded.under_test.settings))
    try:
        results = await asyncio.gather(
            retention.prune_visits(seeded.database, cutoff, batch_size=5),
            retention.prune_visits(other, cutoff, batch_size=5),
        )
    finally:
        await other.dispose()

    old = len(seeded.records) - len(seeded.refs_from(cutoff))
    assert sum(result.visits_deleted for result in results) == old
    dropped = [name for result in results for name in result.partitions_dropped]
    assert len(dropped) == len(set(dropped))  # each partition dropped by one of them
    assert await _refs(seeded) == seeded.refs_from(cutoff)


async def _todays_run(seeded: Seeded) -> VisitPrune | None:
    async with seeded.database.session(write=False) as session:
        return await session.get(VisitPrune, seeded.today)


async def test_the_days_run_is_claimed_once_and_records_its_cutoff(seeded: Seeded) -> None:
    other = Database(create_engine(seeded.under_test.settings))
    now = utcnow()
    try:
        runs = await asyncio.gather(
            retention.run_retention(seeded.database, RETENTION_DAYS, UTC_ZONE, now=now),
            retention.run_retention(other, RETENTION_DAYS, UTC_ZONE, now=now),
        )
    finally:
        await other.dispose()

    done = [run for run in runs if run is not None]
    assert len(done) == 1
    cutoff = seeded.cutoff()
    assert done[0].kept_from == cutoff
    record = await _todays_run(seeded)
    assert record is not None
    assert record.finished_at is not None
    assert (record.kept_from, record.visits_deleted) == (cutoff, done[0].visits_deleted)
    assert record.partitions_dropped == len(done[0].partitions_dropped)
    async with seeded.database.session(write=False) as session:
        assert await retention.pruned_before(session) == cutoff

    later = utcnow()
    assert await retention.run_retention(seeded.database, 10, UTC_ZONE, now=later) is None
    forced = await retention.run_retention(seeded.database, 10, UTC_ZONE, now=later, force=True)
    assert forced is not None
    assert forced.kept_from == seeded.cutoff(10) > cutoff
    assert await _refs(seeded) == seeded.refs_from(seeded.cutoff(10))


async def test_a_run_that_died_is_taken_over_once_its_claim_is_stale(seeded: Seeded) -> None:
    started = utcnow() - retention.STALE_CLAIM - timedelta(minutes=1)
    async with seeded.database.session() as session:
        assert await retention.claim_run(session, seeded.today, seeded.cutoff(), started)
        await session.commit()
    assert await retention.run_retention(
        seeded.database, RETENTION_DAYS, UTC_ZONE, now=started + timedelta(minutes=5)
    ) is None  # fmt: skip

    taken_over = await retention.run_retention(
        seeded.database, RETENTION_DAYS, UTC_ZONE, now=utcnow()
    )

    assert taken_over is not None
    assert await _refs(seeded) == seeded.refs_from(seeded.cutoff())


async def test_the_retention_task_prunes_once_and_stops(seeded: Seeded, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        seeded.under_test.settings.effective_database_url,
        visit_retention_days=RETENTION_DAYS,
    )
    task = VisitRetention(seeded.database, settings)
    task.start()
    try:
        await eventually(
            lambda: _todays_run(seeded),
            within=60,
            what="the task's run of today",
        )
        await eventually(
            lambda: _finished(seeded), within=60, what="the task's run of today to finish"
        )
    finally:
        await task.stop()
    assert await _refs(seeded) == seeded.refs_from(seeded.cutoff())
    assert await task.run_once() is None  # today's run is done


async def _finished(seeded: Seeded) -> bool:
    record = await _todays_run(seeded)
    return record is not None and record.finished_at is not None


async def test_retention_zero_keeps_every_raw_visit(seeded: Seeded, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, seeded.under_test.settings.effective_database_url, visit_retention_days=0
    )
    assert await VisitRetention(seeded.database, settings).run_once() is None
    assert len(await _refs(seeded)) == len(seeded.records)
    assert await _todays_run(seeded) is None


async def test_the_worker_process_prunes_and_stops_on_sigterm(
    seeded: Seeded, tmp_path: Path
) -> None:
    env = serve_env(
        tmp_path,
        LEADLINK_DATABASE_URL=seeded.under_test.settings.effective_database_url,
        LEADLINK_VISIT_RETENTION_DAYS=str(RETENTION_DAYS),
    )
    returncode, stderr = await run_worker_until(
        env, lambda: _finished(seeded), within=60, doing="prune"
    )

    assert returncode == 0, stderr
    assert await _refs(seeded) == seeded.refs_from(seeded.cutoff())
    assert f"from before {seeded.cutoff().isoformat()} pruned" in stderr
    assert "Traceback" not in stderr


# PostgreSQL: the partitions themselves.


@pytest.fixture
async def postgres(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[DatabaseUnderTest]:
    under_test, cleanup = await fresh_databases.open("postgresql", tmp_path)
    try:
        yield under_test
    finally:
        await cleanup()


async def _partition_of(database: Database, ref: str) -> str:
    async with database.session(write=False) as session:
        found = await session.scalar(
            text("SELECT tableoid::regclass::text FROM visits WHERE ref = :ref"), {"ref": ref}
        )
    return str(found)


@pytest.mark.postgresql_only
async def test_a_visit_no_month_covers_lands_in_the_default_partition_and_moves_later(
    postgres: DatabaseUnderTest,
) -> None:
    database = Database(postgres.engine, owns_engine=False)
    async with database.session() as session:
        handle = await links.create_handle(session, "anna")
        await session.commit()
    far = datetime(2100, 1, 15, 12, tzinfo=UTC)
    visit = make_visit(handle.id, None, far, UTC_ZONE)
    async with database.session() as session:
        await write_visits(session, [visit])
        await session.commit()
    assert await _partition_of(database, visit.ref) == "visits_default"

    async with database.session() as session:
        made = await partitions.ensure_months(session, date(2100, 1, 1), months_ahead=1)
        await session.commit()

    assert made == ["visits_2100_01", "visits_2100_02"]
    assert await _partition_of(database, visit.ref) == "visits_2100_01"
    # The same visit again (a retried batch) is still refused: `ref` stays unique.
    async with database.session() as session:
        with pytest.raises(IntegrityError):
            await write_visits(session, [visit])


@pytest.mark.postgresql_only
async def test_the_task_makes_the_coming_months_partitions(
    postgres: DatabaseUnderTest, tmp_path: Path
) -> None:
    database = Database(postgres.engine, owns_engine=False)
    today = datetime.now(UTC).date()
    coming = partitions.partition_name(partitions.month_start(today, 2))
    async with database.session() as session:
        await session.execute(text(f"DROP TABLE {coming}"))
        await session.commit()
    url = postgres.settings.effective_database_url
    settings = make_settings(tmp_path, url, visit_retention_days=0)

    await VisitRetention(database, settings).run_once()

    async with database.session(write=False) as session:
        names = [partition.name for partition in await partitions.month_partitions(session)]
    expected = [
        partitions.partition_name(partitions.month_start(today, ahead))
        for ahead in range(partitions.MONTHS_AHEAD + 1)
    ]
    assert names[-len(expected) :] == expected


def test_prune_with_retention_off_removes_nothing_and_refuses_zero_days(tmp_path: Path) -> None:
    env = serve_env(tmp_path, LEADLINK_VISIT_RETENTION_DAYS="0")
    assert invoke_leadlink("migrate", env=env).exit_code == 0

    kept = invoke_leadlink("visits", "prune", env=env)
    assert kept.exit_code == 0, kept.output
    assert "keeps raw visits forever: nothing pruned" in kept.stdout
    assert sqlite_rows(env, "SELECT count(*) FROM visit_prunes") == [(0,)]

    zero = invoke_leadlink("visits", "prune", "--older-than", "0", env=env)
    assert zero.exit_code == 2
    assert "--older-than" in zero.stderr
