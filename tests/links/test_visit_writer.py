"""The write-behind visit writer on real, separately committed databases: overflow writes
directly, shutdown flushes, a database outage delays visits without losing or doubling any, and a
row the database refuses does not hold up the others. The rollups always equal the raw rows.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import Database, create_engine
from app.handles.models import Handle
from app.links import service as links
from app.links import visit_writer
from app.links.models import Route, Visit, VisitorDay, VisitorSalt
from app.links.visit_writer import VisitWriter
from app.links.visits import VISIT_COLUMNS, VisitRecord
from app.pages import service as pages
from app.pages.models import Page
from tests import factories
from tests.databases import BACKENDS, DatabaseUnderTest, FreshDatabases
from tests.links.visit_checks import Counts, assert_rollups_equal_raw_rows
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually


async def check_engine(engine: AsyncEngine) -> Counts:
    async with engine.connect() as connection:
        return await assert_rollups_equal_raw_rows(connection)


async def visit_refs(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.scalars(select(Visit.ref))).all())


@dataclass
class Fresh:
    under_test: DatabaseUnderTest
    handle_id: int
    page_id: int

    @property
    def engine(self) -> AsyncEngine:
        return self.under_test.engine


@asynccontextmanager
async def committed(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session
        await session.commit()


async def seed_handle(engine: AsyncEngine, name: str) -> tuple[int, int]:
    async with committed(engine) as session:
        handle = await links.create_handle(session, name)
        page = await pages.create_page(session, handle, slug=f"{name}-gift", title="Gift")
        await pages.publish_page(session, page)
        return handle.id, page.id


@pytest.fixture(params=BACKENDS)
async def fresh(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[Fresh]:
    """A separately committed, migrated database with handle `anna` and its published page."""
    under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    try:
        handle_id, page_id = await seed_handle(under_test.engine, "anna")
        yield Fresh(under_test, handle_id, page_id)
    finally:
        await cleanup()


def today() -> date:
    return datetime.now(UTC).date()


def make_visit(
    handle_id: int,
    page_id: int | None,
    *,
    kind: str = "visit",
    source: str = "instagram",
    visitor: str | None = None,
) -> VisitRecord:
    """A visit made now (report days in UTC)."""
    return factories.make_visit(
        handle_id, page_id, datetime.now(UTC), ZoneInfo("UTC"), kind=kind, source=source,
        visitor=visitor,
    )  # fmt: skip


def varied_visits(fresh: Fresh, count: int) -> list[VisitRecord]:
    """Visits and previews over a few sources, the external page, and repeat visitors."""
    sources = ("instagram", "tiktok", "x", "direct")
    return [
        make_visit(
            fresh.handle_id,
            None if index % 7 == 0 else fresh.page_id,
            kind="preview" if index % 5 == 0 else "visit",
            source=sources[index % len(sources)],
            visitor=f"{index % 9:032x}",
        )
        for index in range(count)
    ]


async def _wait_until_written(engine: AsyncEngine, count: int, *, within: float) -> list[str]:
    """The refs written, once there are `count` of them or `within` seconds have passed."""
    deadline = time.monotonic() + within
    refs = await visit_refs(engine)
    for _ in range(10_000):
        if len(refs) >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
        refs = await visit_refs(engine)
    return refs


async def test_rollup_check_notices_a_difference(fresh: Fresh) -> None:
    writer = VisitWriter(Database(fresh.engine), today)
    await writer.record(make_visit(fresh.handle_id, fresh.page_id))
    assert await writer.flush()
    assert await check_engine(fresh.engine)
    async with fresh.engine.begin() as connection:
        await connection.execute(text("UPDATE visit_rollups SET unique_visitors = 2"))
    with pytest.raises(AssertionError):
        await check_engine(fresh.engine)


async def test_overflow_writes_directly_and_nothing_is_dropped(fresh: Fresh) -> None:
    # No background task: only the request path (record) and an explicit flush write.
    writer = VisitWriter(Database(fresh.engine), today, max_buffered=5)
    visits = varied_visits(fresh, 20)

    for visit in visits:
        await writer.record(visit)
        assert writer.pending <= 5

    assert writer.pending == 5
    assert len(await visit_refs(fresh.engine)) == 15  # written before their requests answered
    await check_engine(fresh.engine)
    assert await writer.flush()
    assert writer.pending == 0
    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in visits)
    counts = await check_engine(fresh.engine)
    assert sum(visits for visits, _, _ in counts.values()) == 16
    assert sum(previews for _, _, previews in counts.values()) == 4


async def test_batches_larger_than_the_batch_size_are_all_written(fresh: Fresh) -> None:
    writer = VisitWriter(Database(fresh.engine), today, batch_size=7)
    visits = varied_visits(fresh, 50)
    for visit in visits:
        await writer.record(visit)

    assert await writer.flush()
    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in visits)
    await check_engine(fresh.engine)


async def test_background_task_writes_within_its_interval(fresh: Fresh) -> None:
    writer = VisitWriter(Database(fresh.engine), today, interval=0.05)
    writer.start()
    try:
        visits = varied_visits(fresh, 30)
        for visit in visits:
            await writer.record(visit)
        assert len(await _wait_until_written(fresh.engine, 30, within=5)) == 30
    finally:
        await writer.stop()
    await check_engine(fresh.engine)


async def test_stop_writes_everything_still_buffered(fresh: Fresh) -> None:
    writer = VisitWriter(Database(fresh.engine), today, interval=60)  # never on its own
    writer.start()
    visits = varied_visits(fresh, 300)
    for visit in visits:
        await writer.record(visit)
    await asyncio.sleep(0.05)
    assert await visit_refs(fresh.engine) == []

    await writer.stop()

    assert writer.pending == 0
    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in visits)
    await check_engine(fresh.engine)


class SlowDatabase(Database):
    """A database whose write sessions take a while to start, like one under heavy load."""

    delay = 0.3

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        async with super().session(write=write) as session:
            if write:
                await asyncio.sleep(self.delay)
            yield session


async def test_stop_during_a_batch_write_loses_nothing(fresh: Fresh) -> None:
    # SIGTERM arrives while the task is in the middle of writing a batch.
    writer = VisitWriter(SlowDatabase(fresh.engine), today, interval=0.02)
    writer.start()
    visits = varied_visits(fresh, 40)
    for visit in visits:
        await writer.record(visit)
    # The task has taken the batch and is writing it (each write takes 0.3 s).
    await eventually(lambda: writer.pending == 0, what="the task takes the batch")

    await writer.stop()

    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in visits)
    await check_engine(fresh.engine)


async def test_flush_waits_for_a_batch_already_being_written(fresh: Fresh) -> None:
    # Whoever flushes (tests, shutdown) may count on every earlier visit being committed.
    writer = VisitWriter(SlowDatabase(fresh.engine), today, interval=0.02)
    writer.start()
    try:
        visits = varied_visits(fresh, 10)
        for visit in visits:
            await writer.record(visit)
        # The task has taken the batch and is writing it (each write takes 0.3 s).
        await eventually(lambda: writer.pending == 0, what="the task takes the batch")
        assert await writer.flush()
        assert len(await visit_refs(fresh.engine)) == 10
    finally:
        await writer.stop()


async def test_old_salts_and_ledger_rows_are_forgotten_soon_after_start(
    fresh: Fresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Privacy: yesterday's salt must go, whether or not the machine booted an hour ago
    # (time.monotonic() counts from boot on Linux).
    day = today()
    async with committed(fresh.engine) as session:
        for salt_day in (day - timedelta(days=1), day):
            session.add(VisitorSalt(day=salt_day, salt=secrets.token_hex(32)))
        for ledger_day in (day - timedelta(days=5), day):
            session.add(
                VisitorDay(
                    day=ledger_day,
                    handle_id=fresh.handle_id,
                    page_id=fresh.page_id,
                    source="x",
                    visitor_hash="a" * 32,
                )
            )
    booted = time.monotonic() - 5.0  # a machine up for five seconds
    monkeypatch.setattr(
        visit_writer, "time", SimpleNamespace(monotonic=lambda: time.monotonic() - booted)
    )

    async def only_todays_rows_are_left() -> bool:
        async with fresh.engine.connect() as connection:
            salts = (await connection.scalars(select(VisitorSalt.day))).all()
            ledger = (await connection.scalars(select(VisitorDay.day))).all()
        return [str(value) for value in salts] == [str(value) for value in ledger] == [str(day)]

    writer = VisitWriter(Database(fresh.engine), today, interval=0.02)
    writer.start()
    try:
        await eventually(only_todays_rows_are_left, what="yesterday's salt and ledger rows go")
    finally:
        await writer.stop()
    assert await only_todays_rows_are_left()


# --- a row the database refuses -------------------------------------------------------------


async def _deleted_handle_and_page(engine: AsyncEngine) -> tuple[int, int]:
    handle_id, page_id = await seed_handle(engine, "gone")
    async with committed(engine) as session:
        await session.execute(delete(Page).where(Page.id == page_id))
        await session.execute(delete(Handle).where(Handle.id == handle_id))
    return handle_id, page_id


@pytest.mark.parametrize(
    "poison",
    ["visit-of-deleted-handle", "preview-of-deleted-handle", "visit-to-deleted-page"],
)
async def test_a_refused_row_does_not_block_the_others(fresh: Fresh, poison: str) -> None:
    gone_handle, gone_page = await _deleted_handle_and_page(fresh.engine)
    bad = {
        "visit-of-deleted-handle": make_visit(gone_handle, None),
        "preview-of-deleted-handle": make_visit(gone_handle, None, kind="preview"),
        "visit-to-deleted-page": make_visit(fresh.handle_id, gone_page),
    }[poison]
    good = varied_visits(fresh, 12)
    writer = VisitWriter(Database(fresh.engine), today)
    for visit in [*good[:6], bad, *good[6:]]:
        await writer.record(visit)

    assert await writer.flush()

    assert writer.pending == 0
    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in good)
    await check_engine(fresh.engine)
    # The writer is not stuck: later visits go through as usual.
    later = make_visit(fresh.handle_id, fresh.page_id)
    await writer.record(later)
    assert await writer.flush()
    assert later.ref in await visit_refs(fresh.engine)


async def test_a_visit_through_a_route_removed_meanwhile_still_counts(fresh: Fresh) -> None:
    # The creator ends an A/B test (`handles unroute`) while its last visits are buffered.
    async with committed(fresh.engine) as session:
        handle = await session.get(Handle, fresh.handle_id)
        assert handle is not None
        route = await links.add_route(session, handle, page_slug="anna-gift", variant="b")
    writer = VisitWriter(Database(fresh.engine), today)
    visits = varied_visits(fresh, 6)
    for visit in visits:
        visit.route_id, visit.variant = route.id, "b"
        await writer.record(visit)
    async with committed(fresh.engine) as session:
        await session.execute(delete(Route).where(Route.id == route.id))

    assert await writer.flush()

    assert sorted(await visit_refs(fresh.engine)) == sorted(visit.ref for visit in visits)
    async with fresh.engine.connect() as connection:
        stored = (await connection.execute(select(Visit.route_id, Visit.variant))).all()
    assert {tuple(row) for row in stored} == {(None, "b")}
    await check_engine(fresh.engine)


async def test_a_visit_written_twice_is_stored_once(fresh: Fresh) -> None:
    # A batch retried after a commit whose answer was lost must not double anything.
    writer = VisitWriter(Database(fresh.engine), today)
    visits = varied_visits(fresh, 10)
    for visit in visits:
        await writer.record(visit)
    assert await writer.flush()
    for visit in [*visits[:4], make_visit(fresh.handle_id, fresh.page_id)]:
        await writer.record(visit)

    assert await writer.flush()

    assert writer.pending == 0
    refs = await visit_refs(fresh.engine)
    assert len(refs) == len(set(refs)) == 11
    await check_engine(fresh.engine)


# --- a database outage ----------------------------------------------------------------------


@pytest.fixture
async def postgres(tmp_path: Path, fresh_databases: FreshDatabases) -> AsyncIterator[Fresh]:
    under_test, cleanup = await fresh_databases.open("postgresql", tmp_path)
    try:
        handle_id, page_id = await seed_handle(under_test.engine, "anna")
        yield Fresh(under_test, handle_id, page_id)
    finally:
        await cleanup()


@asynccontextmanager
async def proxied_engine(fresh: Fresh) -> AsyncIterator[tuple[AsyncEngine, TcpProxy]]:
    url = make_url(fresh.under_test.settings.effective_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = fresh.under_test.settings.model_copy(
        update={
            "database_url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            "db_timeout_seconds": 2.0,
        }
    )
    engine = create_engine(settings)
    try:
        yield engine, proxy
    finally:
        await proxy.close()
        await engine.dispose()


async def _record_timed(writer: VisitWriter, visits: list[VisitRecord]) -> float:
    """Record every visit; return the longest time one `record()` took."""
    slowest = 0.0
    for visit in visits:
        started = time.perf_counter()
        await writer.record(visit)
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


@pytest.mark.postgresql_only
async def test_database_outage_delays_visits_without_losing_or_doubling_any(
    postgres: Fresh,
) -> None:
    async with proxied_engine(postgres) as (engine, proxy):
        writer = VisitWriter(Database(engine), today, interval=0.05)
        writer.start()
        try:
            before = varied_visits(postgres, 50)
            await _record_timed(writer, before)
            assert len(await _wait_until_written(postgres.engine, 50, within=10)) == 50

            await proxy.cut()
            during = varied_visits(postgres, 400)
            slowest = await _record_timed(writer, during[:200])
            await asyncio.sleep(0.5)  # the writer tries, fails and backs off
            slowest = max(slowest, await _record_timed(writer, during[200:]))
            await asyncio.sleep(0.5)
            assert slowest < 0.05, "a request waited on the failing database"
            assert writer.pending == 400
            assert len(await visit_refs(postgres.engine)) == 50

            await proxy.restore()
            after = varied_visits(postgres, 50)
            await _record_timed(writer, after)
            refs = await _wait_until_written(postgres.engine, 500, within=20)
        finally:
            await writer.stop()

    expected = [visit.ref for visit in [*before, *during, *after]]
    assert len(refs) == len(set(refs))
    assert sorted(refs) == sorted(expected)
    counts = await check_engine(postgres.engine)
    assert sum(v + p for v, _, p in counts.values()) == 500


@pytest.mark.postgresql_only
async def test_outage_at_shutdown_keeps_retrying_until_the_database_returns(
    postgres: Fresh,
) -> None:
    async with proxied_engine(postgres) as (engine, proxy):
        writer = VisitWriter(Database(engine), today, interval=0.05)
        writer.start()
        await proxy.cut()
        visits = varied_visits(postgres, 30)
        await _record_timed(writer, visits)
        await asyncio.sleep(0.3)

        async def restore_later() -> None:
            await asyncio.sleep(1.0)
            await proxy.restore()

        restoring = asyncio.create_task(restore_later())
        await writer.stop(deadline_seconds=15)
        await restoring

    assert sorted(await visit_refs(postgres.engine)) == sorted(visit.ref for visit in visits)
    await check_engine(postgres.engine)


async def test_visit_count_query(fresh: Fresh) -> None:
    # The helper's SQL counts distinct visitors per rollup row, not per day.
    writer = VisitWriter(Database(fresh.engine), today)
    for source in ("instagram", "tiktok"):
        for _ in range(2):
            await writer.record(
                make_visit(fresh.handle_id, fresh.page_id, source=source, visitor="a")
            )
    await writer.record(make_visit(fresh.handle_id, fresh.page_id, kind="preview", visitor="a"))
    assert await writer.flush()

    counts = await check_engine(fresh.engine)

    day = str(today())
    assert counts == {
        (day, fresh.handle_id, fresh.page_id, "instagram"): (2, 1, 1),
        (day, fresh.handle_id, fresh.page_id, "tiktok"): (2, 1, 0),
    }
    async with fresh.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(Visit)) == 5


async def test_every_field_reads_back_as_recorded_whichever_are_empty(fresh: Fresh) -> None:
    # SQLite rows are inserted grouped by which columns are NULL (see `_sqlite_inserts`): each
    # pattern, mixed in one batch, must still store exactly what was recorded.
    base = make_visit(fresh.handle_id, fresh.page_id)
    filled = replace(
        base,
        medium="social",
        campaign="spring",
        content="bio",
        raw_source="ig-story",
        referrer_host="l.instagram.com",
        in_app_browser="instagram",
        agent=None,
    )
    preview = replace(base, kind="preview", agent="facebookexternalhit", source="facebook")
    external = replace(base, page_id=None, medium="email", device_class="desktop")
    now = datetime.now(UTC)
    times = [
        now,
        now.replace(microsecond=0),  # still stored with ".000000", so text order is time order
        now.replace(microsecond=999_999),  # not rounded into the next second
        now,
        now,
        now,
    ]
    recorded = [
        replace(visit, ref=secrets.token_urlsafe(12), created_at=at)
        for visit, at in zip((base, filled, preview, external, filled, base), times, strict=True)
    ]
    writer = VisitWriter(Database(fresh.engine), today)
    for visit in recorded:
        await writer.record(visit)
    assert await writer.flush()

    async with fresh.engine.connect() as connection:
        rows = {row.ref: row for row in await connection.execute(select(Visit.__table__))}
    for visit in recorded:
        row = rows[visit.ref]
        for column in VISIT_COLUMNS:
            stored, expected = getattr(row, column), getattr(visit, column)
            if column == "created_at":
                stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
            assert stored == expected, column
    if fresh.engine.dialect.name == "sqlite":  # the text SQLAlchemy itself would have stored
        async with fresh.engine.connect() as connection:
            result = await connection.execute(text("SELECT ref, created_at FROM visits"))
            texts = {str(ref): created_at for ref, created_at in result}
        for visit in recorded:
            assert texts[visit.ref] == visit.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    await check_engine(fresh.engine)
