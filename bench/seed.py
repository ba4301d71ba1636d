"""Bulk data for the report scenarios: N visits and M leads over 365 days, 15 sources, 20 pages
of 4 handles (`bench-1` … `bench-4`), social metrics for every handle, platform and day, and an
API key (`reports:read leads:read`, every handle) with a secret chosen by the caller.

    python -m bench.seed --visits 200000 --leads 20000 [--days 365] [--api-key ll_…]

The database is `LEADLINK_DATABASE_URL`, migrated already. Raw rows go in the fastest way each
database has (`COPY` on PostgreSQL, with the leads' rollup trigger off until the rows are in;
one transaction of batched `executemany` on SQLite); the daily rollups are then recomputed from
them with `leadlink rollups rebuild`'s SQL, so they equal the raw rows exactly. Prints how long
each step took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time as clock
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.engine import make_url

from app.api_keys import service as api_keys
from app.api_keys.models import ApiKey
from app.config import Settings, load_settings
from app.db import Database, create_engine
from app.links import partitions
from app.links import service as links
from app.links.sources import CANONICAL_SOURCES
from app.links.visits import VISIT_COLUMNS
from app.pages import service as pages
from app.reports import rollups, social_metrics

__all__ = ["HANDLES", "SeedPlan", "main", "seed"]

HANDLES = tuple(f"bench-{n}" for n in range(1, 5))
PAGES_PER_HANDLE = 5
BATCH = 50_000
API_KEY_SCOPES = "reports:read leads:read"
# Instagram and TikTok bring most visitors; the long tail of sources brings a few.
SOURCE_WEIGHTS = (30, 8, 24, 6, 9, 4, 3, 2, 3, 2, 2, 1, 2, 3, 1)
STATUS_WEIGHTS = {"pending": 30, "confirmed": 52, "unsubscribed": 8, "customer": 10}
LEAD_COLUMNS = (
    "page_id", "handle_id", "email", "fields", "status", "source", "created_at", "updated_at",
    "confirmed_at", "customer_at", "customer_value", "customer_currency", "name",
    "newsletter_consent",
)  # fmt: skip
# Names for the admin table's search; three leads in five tick the newsletter box.
FIRST_NAMES = ("Anna", "Ben", "Chloé", "Dmitri", "Elif", "Farah", "Gus", "Hana", "Ivo", "June")
NEWSLETTER_SHARE = (3, 5)


class SeedPlan:
    """What to seed; pages are (page_id, handle_id) pairs of the bench handles."""

    def __init__(self, visits: int, leads: int, days: int, tz: ZoneInfo) -> None:
        self.visits = visits
        self.leads = leads
        self.days = days
        self.tz = tz
        self.today = datetime.now(tz).date()
        self.pages: list[tuple[int, int]] = []
        # Per day of the range: its local date, the UTC instant it starts, its length in
        # seconds (23 or 25 hours on DST changes).
        self.calendar: list[tuple[date, datetime, int]] = []
        for index in range(days):
            day = self.today - timedelta(days=index)
            start = datetime.combine(day, time(0), tz).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
            self.calendar.append((day, start, int((end - start).total_seconds())))

    def day(self, index: int) -> date:
        return self.calendar[index % self.days][0]

    def moment(self, index: int, rng: random.Random) -> tuple[date, datetime]:
        """A random instant of the index's day (its local date and the UTC instant)."""
        day, start, seconds = self.calendar[index % self.days]
        return day, start + timedelta(seconds=rng.randrange(seconds))


def _sqlite_time(instant: datetime) -> str:
    return instant.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _visit_rows(plan: SeedPlan, rng: random.Random, *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """Rows in VISIT_COLUMNS order; the day is the local day in the report time zone."""
    sources = rng.choices(CANONICAL_SOURCES, SOURCE_WEIGHTS, k=4096)
    for number in range(plan.visits):
        day, created = plan.moment(number, rng)
        page_id, handle_id = plan.pages[number % len(plan.pages)]
        preview = number % 25 == 0
        yield (
            f"bench{number:x}",
            _sqlite_time(created) if sqlite else created,
            day.isoformat() if sqlite else day,
            "preview" if preview else "visit",
            handle_id, page_id, None, None, sources[number % 4096],
            None, None, None, "referrer", None, None, None,
            "Slackbot" if preview else None,
            "bot" if preview else "mobile",
            f"{rng.getrandbits(48):012x}",
        )  # fmt: skip


def _lead_rows(plan: SeedPlan, rng: random.Random, *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    statuses = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()), k=4096)
    sources = rng.choices(CANONICAL_SOURCES, SOURCE_WEIGHTS, k=4096)

    def stamp(value: datetime | None) -> Any:
        if value is None:
            return None
        return _sqlite_time(value) if sqlite else value

    for number in range(plan.leads):
        _day, created = plan.moment(number, rng)
        status = statuses[number % 4096]
        confirmed = created + timedelta(hours=1) if status != "pending" else None
        customer = created + timedelta(days=2) if status == "customer" else None
        page_id, handle_id = plan.pages[number % len(plan.pages)]
        yield (
            page_id, handle_id, f"lead{number}@bench.example", "{}", status,
            sources[number % 4096], stamp(created), stamp(customer or confirmed or created),
            stamp(confirmed), stamp(customer),
            ("49.00" if sqlite else Decimal("49.00")) if customer else None,
            "EUR" if customer else None,
            f"{FIRST_NAMES[number % len(FIRST_NAMES)]} {number}",
            number % NEWSLETTER_SHARE[1] < NEWSLETTER_SHARE[0],
        )  # fmt: skip


def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    # Only the constant table and column names above are formatted in.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608


def _seed_sqlite(path: str, plan: SeedPlan, rng: random.Random) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN IMMEDIATE")
        for batch in _batches(_visit_rows(plan, rng, sqlite=True)):
            db.executemany(_insert_sql("visits", VISIT_COLUMNS), batch)
        for batch in _batches(_lead_rows(plan, rng, sqlite=True)):
            db.executemany(_insert_sql("leads", LEAD_COLUMNS), batch)
        db.execute("COMMIT")
    finally:
        db.close()


async def _seed_postgres(dsn: str, plan: SeedPlan, rng: random.Random) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        # COPY sends binary rows; json's binary form is its text.
        await connection.set_type_codec(
            "json",
            encoder=lambda value: json.dumps(value).encode(),
            decoder=json.loads,
            schema="pg_catalog",
            format="binary",
        )
        async with connection.transaction():
            # The leads' row trigger upserts the per-source rollups, which `_rebuild_and_analyze`
            # recomputes from the raw rows anyway. Left on, it rewrites the same few hundred
            # rollup rows a million times in one transaction, and each rewrite walks that row's
            # chain of dead versions: quadratic (a 10M-visit seed did not finish in 20 min).
            await connection.execute("ALTER TABLE leads DISABLE TRIGGER USER")
            for batch in _batches(_visit_rows(plan, rng, sqlite=False)):
                await connection.copy_records_to_table(
                    "visits", records=batch, columns=VISIT_COLUMNS
                )
            for batch in _batches(_lead_rows(plan, rng, sqlite=False)):
                await connection.copy_records_to_table(
                    "leads", records=[(*row[:3], {}, *row[4:]) for row in batch],
                    columns=LEAD_COLUMNS,
                )  # fmt: skip
            await connection.execute("ALTER TABLE leads ENABLE TRIGGER USER")
    finally:
        await connection.close()


async def _create_handles(database: Database, plan: SeedPlan, api_key: str | None) -> None:
    async with database.session() as session:
        for name in HANDLES:
            handle = await links.create_handle(session, name)
            for number in range(PAGES_PER_HANDLE):
                page = await pages.create_page(
                    session, handle, slug=f"{name}-{number}", title=f"Gift {number}"
                )
                await pages.publish_page(session, page)
                plan.pages.append((page.id, handle.id))
            await social_metrics.upsert_social_metrics(
                session,
                [
                    social_metrics.MetricSnapshot(
                        handle.id, platform, plan.day(index), likes=500 + index, followers=9000
                    )
                    for index in range(plan.days)
                    for platform in CANONICAL_SOURCES[:9]
                ],
            )
        if api_key:
            session.add(
                ApiKey(
                    name=f"bench ({API_KEY_SCOPES})",
                    prefix=api_key[:11],
                    secret_hash=api_keys.hash_secret(api_key),
                    scopes=API_KEY_SCOPES,
                )
            )
        await session.commit()


async def _month_partitions(database: Database, plan: SeedPlan) -> None:
    """On PostgreSQL, the seeded months' partitions of `visits`, as the worker of an instance
    that ran that long would have made them (otherwise the old rows sit in DEFAULT)."""
    async with database.session() as session:
        if not await partitions.is_partitioned(session):
            return
        first = plan.day(plan.days - 1)
        months = (plan.today.year - first.year) * 12 + plan.today.month - first.month
        await partitions.ensure_months(session, first, months + partitions.MONTHS_AHEAD)
        await session.commit()


async def _rebuild_and_analyze(database: Database, settings: Settings) -> None:
    async with database.session() as session:
        await rollups.rebuild_rollups(session, settings.report_tz)
        await session.commit()
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        await asyncio.to_thread(_sqlite_analyze, url.database or "")
        return
    # The triggers rewrote the per-source rollup rows many times: vacuum them (outside a
    # transaction) so the planner sees their real size.
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def _sqlite_analyze(path: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("ANALYZE")
    finally:
        db.close()


async def seed(settings: Settings, plan: SeedPlan, api_key: str | None) -> dict[str, float]:
    """Seed everything; returns seconds per step."""
    rng = random.Random(20261122)  # noqa: S311 - benchmark data, not secrets
    timings: dict[str, float] = {}
    # The rollup rebuild of 10M visits runs for minutes: far past the app's per-statement
    # timeout, which is meant for requests.
    database = Database(create_engine(settings.model_copy(update={"db_timeout_seconds": 3600.0})))
    try:
        started = clock.perf_counter()
        await _create_handles(database, plan, api_key)
        await _month_partitions(database, plan)
        timings["handles, pages, metrics"] = clock.perf_counter() - started

        started = clock.perf_counter()
        url = make_url(settings.effective_database_url)
        if url.get_backend_name() == "sqlite":
            await asyncio.to_thread(_seed_sqlite, url.database or "", plan, rng)
        else:
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            await _seed_postgres(dsn, plan, rng)
        timings["visits and leads"] = clock.perf_counter() - started

        started = clock.perf_counter()
        await _rebuild_and_analyze(database, settings)
        timings["rollups and VACUUM/ANALYZE"] = clock.perf_counter() - started
    finally:
        await database.dispose()
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--visits", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--api-key", help=f"store this secret as an API key with {API_KEY_SCOPES}")
    args = parser.parse_args(argv)
    settings = load_settings()
    plan = SeedPlan(args.visits, args.leads, args.days, ZoneInfo(settings.report_tz))
    started = clock.perf_counter()
    timings = asyncio.run(seed(settings, plan, args.api_key))
    total = clock.perf_counter() - started
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(
        f"seeded {args.visits:,} visits and {args.leads:,} leads over {args.days} days "
        f"in {total:.1f} s ({steps})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
