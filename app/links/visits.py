"""Writing visits: one batch inserts the raw rows and updates the daily rollups (per page and
per A/B variant) in the same transaction, so the rollups always count every visit ever written,
also once the raw rows are pruned (app/links/retention.py).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from operator import attrgetter, is_not
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import run_on_sqlite_thread
from app.links.models import EXTERNAL_PAGE_ID, VisitorDay, VisitorSalt

__all__ = ["VisitRecord", "prune_visitor_ledger", "visitor_salt", "write_visits"]

LEDGER_DAYS_KEPT = 3


@dataclass(slots=True)
class VisitRecord:
    """One visit or preview, exactly as it becomes a `visits` row."""

    ref: str
    created_at: datetime
    day: date
    kind: str
    handle_id: int
    page_id: int | None
    route_id: int | None
    variant: str | None
    source: str
    medium: str | None
    campaign: str | None
    content: str | None
    rule: str
    raw_source: str | None
    referrer_host: str | None
    in_app_browser: str | None
    agent: str | None
    device_class: str
    visitor_hash: str


VISIT_COLUMNS = tuple(field.name for field in fields(VisitRecord))
_visit_row = attrgetter(*VISIT_COLUMNS)
_tail_row = attrgetter(*VISIT_COLUMNS[3:])  # after ref, created_at and day
_rollup_fields = attrgetter(
    "day", "handle_id", "page_id", "source", "kind", "visitor_hash", "route_id"
)
ROLLUP_KEY = "day, handle_id, page_id, source"
VARIANT_KEY = "day, handle_id, route_id, source"
NONE = type(None)
IS_NOT_NONE = partial(is_not, None)
DRIVER_INTEGRITY_ERRORS = (asyncpg.IntegrityConstraintViolationError,)


def _placeholders(dialect: str, columns: int, rows: int = 1) -> str:
    """`(?, ?), (?, ?)` for SQLite, `($1, $2), ($3, $4)` for asyncpg."""
    if dialect == "sqlite":
        one = "(" + ", ".join("?" * columns) + ")"
        return ", ".join([one] * rows)
    return ", ".join(
        "(" + ", ".join(f"${row * columns + col + 1}" for col in range(columns)) + ")"
        for row in range(rows)
    )


@lru_cache(maxsize=64)
def _day_text(day: date) -> str:
    return day.isoformat()


@lru_cache(maxsize=16)
def _second_text(epoch_second: int) -> str:
    return datetime.fromtimestamp(epoch_second, UTC).isoformat(" ")[:19]


def _sqlite_row(record: VisitRecord) -> tuple[Any, ...]:
    """The row in the text forms SQLAlchemy's SQLite types store and read back (naive UTC,
    always with microseconds). The date and second parts repeat from visit to visit, so they
    are formatted once each: `isoformat` costs as much as the rest of the row."""
    created_at = record.created_at
    if created_at.tzinfo is None:
        raise ValueError("a visit's created_at must be timezone-aware")
    second = int(created_at.timestamp())
    return (
        record.ref,
        f"{_second_text(second)}.{created_at.microsecond:06d}",
        _day_text(record.day),
        *_tail_row(record),
    )


async def write_visits(session: AsyncSession, records: Sequence[VisitRecord]) -> None:
    """Insert the visits and add them to the rollups; the caller commits.

    This runs for every visit, so it speaks the driver's SQL directly (three statements per
    batch, a fourth when a visit came through an A/B route) instead of building SQLAlchemy
    statements row by row.
    """
    if not records:
        return
    connection = await session.connection()
    dialect = connection.dialect.name
    sqlite = dialect == "sqlite"

    visits: Counter[tuple[Any, ...]] = Counter()
    previews: Counter[tuple[Any, ...]] = Counter()
    variants: Counter[tuple[Any, ...]] = Counter()
    seen: set[tuple[Any, ...]] = set()
    # Counted in C first: a batch repeats few (row, kind, visitor, route) combinations.
    for (day, handle_id, page_id, source, kind, visitor, route_id), count in Counter(
        map(_rollup_fields, records)
    ).items():
        day_value = _day_text(day) if sqlite else day
        key = (day_value, handle_id, EXTERNAL_PAGE_ID if page_id is None else page_id, source)
        if kind == "visit":
            visits[key] += count
            seen.add((*key, visitor))
            if route_id is not None:
                variants[day_value, handle_id, route_id, source] += count
        else:
            previews[key] += count
    batch = _Batch(dialect, sorted(seen), visits, previews, variants)

    if sqlite:
        await _write_on_sqlite(connection, batch, [_sqlite_row(record) for record in records])
        return

    # Only visitors the ledger had not seen for this row yet come back from RETURNING.
    # (This goes first, through SQLAlchemy, so that the transaction is open on asyncpg.)
    uniques: Counter[tuple[Any, ...]] = Counter()
    if batch.ledger:
        new_rows = await connection.exec_driver_sql(*batch.ledger_statement())
        uniques.update(tuple(row) for row in new_rows)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        # asyncpg: COPY is the fastest way into PostgreSQL, inside the same transaction.
        await driver.copy_records_to_table(
            "visits", records=[_visit_row(record) for record in records], columns=VISIT_COLUMNS
        )
    except DRIVER_INTEGRITY_ERRORS as exc:
        raise _refused(exc) from exc
    await connection.exec_driver_sql(*batch.rollup_statement(uniques))
    if batch.variants:
        await connection.exec_driver_sql(*batch.variant_statement())


def _refused(exc: Exception) -> IntegrityError:
    # The driver's own calls bypass SQLAlchemy's wrapping; a refused row (its handle or page
    # deleted, a ref already written by a retried batch) must still read as IntegrityError,
    # which the writer sets aside row by row instead of retrying the batch forever.
    return IntegrityError("INSERT INTO visits", None, exc)


@dataclass(frozen=True)
class _Batch:
    """The ledger rows and rollup counts of one batch, and the statements that write them.
    Only constant column names and placeholders are formatted into these statements."""

    dialect: str
    ledger: list[tuple[Any, ...]]
    visits: Counter[tuple[Any, ...]]
    previews: Counter[tuple[Any, ...]]
    variants: Counter[tuple[Any, ...]]

    def ledger_statement(self) -> tuple[str, tuple[Any, ...]]:
        return (
            f"INSERT INTO visitor_days ({ROLLUP_KEY}, visitor_hash) "  # noqa: S608
            f"VALUES {_placeholders(self.dialect, 5, len(self.ledger))} "
            f"ON CONFLICT DO NOTHING RETURNING {ROLLUP_KEY}",
            tuple(value for row in self.ledger for value in row),
        )

    def rollup_statement(self, uniques: Counter[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
        # Sorted keys make concurrent writers lock rollup rows in the same order (no deadlocks);
        # the page last, so the `report_days` rows (day, handle, source) their triggers update
        # are locked in order as well, as the leads' rollup trigger does on PostgreSQL.
        keys = sorted(self.visits.keys() | self.previews.keys(), key=_report_day_order)
        counts = (
            value
            for key in keys
            for value in (*key, self.visits[key], uniques[key], self.previews[key])
        )
        return (
            f"INSERT INTO visit_rollups ({ROLLUP_KEY}, visits, unique_visitors, previews) "  # noqa: S608
            f"VALUES {_placeholders(self.dialect, 7, len(keys))} "
            f"ON CONFLICT ({ROLLUP_KEY}) DO UPDATE SET "
            "visits = visit_rollups.visits + excluded.visits, "
            "unique_visitors = visit_rollups.unique_visitors + excluded.unique_visitors, "
            "previews = visit_rollups.previews + excluded.previews",
            tuple(counts),
        )

    def variant_statement(self) -> tuple[str, tuple[Any, ...]]:
        keys = sorted(self.variants)  # the same lock order in every writer
        return (
            f"INSERT INTO variant_rollups ({VARIANT_KEY}, visits) "  # noqa: S608
            f"VALUES {_placeholders(self.dialect, 5, len(keys))} "
            f"ON CONFLICT ({VARIANT_KEY}) DO UPDATE SET "
            "visits = variant_rollups.visits + excluded.visits",
            tuple(value for key in keys for value in (*key, self.variants[key])),
        )


def _report_day_order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    day, handle_id, page_id, source = key
    return (day, handle_id, source, page_id)


@lru_cache(maxsize=256)
def _sqlite_insert(types: tuple[type, ...]) -> str:
    """The INSERT of rows whose values have these types, naming only their non-NULL columns."""
    columns = [name for name, kind in zip(VISIT_COLUMNS, types, strict=True) if kind is not NONE]
    return (
        f"INSERT INTO visits ({', '.join(columns)}) "  # noqa: S608 - constant column names
        f"VALUES {_placeholders('sqlite', len(columns))}"
    )


def _sqlite_inserts(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows grouped by the INSERT that writes them, NULL columns left out of each.

    `sqlite3` binds a None parameter slowly: it looks for an adapter and a `__conform__` for it,
    a sizeable part of inserting the row when a typical visit has several (docs/bench.md has the
    count). Omitted columns default to NULL at no cost, and real
    traffic has a handful of NULL patterns, so this is a few executemany calls per batch.
    """
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        statement = _sqlite_insert(tuple(map(type, row)))
        groups.setdefault(statement, []).append(tuple(filter(IS_NOT_NONE, row)))
    return groups


async def _write_on_sqlite(
    connection: AsyncConnection, batch: _Batch, rows: list[tuple[Any, ...]]
) -> None:
    """The statements in one call on aiosqlite's thread (`run_on_sqlite_thread`): awaited
    one by one, the writer fell behind the one link under load and requests met the
    backpressure."""

    def write(database: sqlite3.Connection) -> None:
        if not database.in_transaction:  # the session's BEGIN makes the batch atomic
            raise RuntimeError("write_visits needs the session's transaction to be open")
        uniques: Counter[tuple[Any, ...]] = Counter()
        if batch.ledger:
            new_rows = database.execute(*batch.ledger_statement()).fetchall()
            uniques.update(tuple(row) for row in new_rows)
        for statement, values in _sqlite_inserts(rows).items():
            database.executemany(statement, values)
        database.execute(*batch.rollup_statement(uniques))
        if batch.variants:
            database.execute(*batch.variant_statement())

    await run_on_sqlite_thread(connection, write)  # a refused row raises IntegrityError


def _upsert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert


async def visitor_salt(session: AsyncSession, day: date) -> str:
    """The salt of `day`'s visitor hashes, created by whichever replica asks first.

    Read before it is written: a process started on a database it can only read (a read-only
    filesystem) still serves the one link with the day's salt.
    """
    salt = await session.scalar(select(VisitorSalt.salt).where(VisitorSalt.day == day))
    if salt is not None:
        return salt
    upsert = _upsert(session)
    await session.execute(
        upsert(VisitorSalt).values(day=day, salt=secrets.token_hex(32)).on_conflict_do_nothing()
    )
    salt = await session.scalar(select(VisitorSalt.salt).where(VisitorSalt.day == day))
    assert salt is not None
    return salt


async def prune_visitor_ledger(session: AsyncSession, today: date) -> None:
    """Forget old salts (so old hashes can never be recomputed) and old ledger rows."""
    await session.execute(delete(VisitorSalt).where(VisitorSalt.day < today))
    cutoff = today - timedelta(days=LEDGER_DAYS_KEPT)
    await session.execute(delete(VisitorDay).where(VisitorDay.day < cutoff))
