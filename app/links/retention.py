"""Pruning raw visits: the rows older than `LEADLINK_VISIT_RETENTION_DAYS` go, the rollups stay.

Every figure leadlink shows (the report, the dashboard, the A/B variants, the API, the CLI) is read
from rollups written in the same transaction as the visits (app/links/visits.py) and never
pruned, so deleting raw rows changes no number. Raw rows serve `leadlink rollups rebuild` (which
re-dates and recounts the days it still has rows for, and keeps the rollups of earlier days) and
whoever queries the table directly.

How rows go:
- **SQLite**: `DELETE` in batches of `DELETE_BATCH` rows, one transaction each, along the
  (handle_id, day) index: the write lock is held for one batch, never for the whole prune.
- **PostgreSQL** (`visits` partitioned by month, app/links/partitions.py): whole months. The
  cutoff is rounded down to the first of its month, and every month's partition before it is
  dropped: no row-by-row delete, no dead rows to vacuum, the disk space returned at once. So raw
  rows are kept at least N days and at most about a month longer. Rows in the DEFAULT partition
  from before the cutoff are deleted in batches like SQLite's.

The cutoff (`kept_from`) is stored in `visit_prunes` *before* anything is deleted: from then on a
rebuild keeps the rollups of earlier days instead of recounting them from rows that are going.
Deleting is idempotent, so two processes pruning at once delete each row once between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, bindparam, case, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.handles.models import Handle
from app.links import partitions
from app.links.models import Visit, VisitPrune

__all__ = [
    "DELETE_BATCH",
    "PruneResult",
    "claim_run",
    "finish_run",
    "kept_from",
    "prune_visits",
    "pruned_before",
    "run_retention",
]

DELETE_BATCH = 5000
# A run that claimed its day but has not finished after this long died: another may take over.
STALE_CLAIM = timedelta(minutes=15)
_DELETE = text(
    "DELETE FROM visits WHERE day < :kept_from AND id IN ("
    "SELECT id FROM visits WHERE handle_id = :handle_id AND day < :kept_from LIMIT :limit)"
).bindparams(
    bindparam("kept_from", type_=Date),
    bindparam("handle_id", type_=Integer),
    bindparam("limit", type_=Integer),
)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed (or, in a dry run, would remove): every raw visit dated before
    `kept_from`, `visits_deleted` of them, some by dropping the monthly partitions named."""

    kept_from: date
    visits_deleted: int
    partitions_dropped: tuple[str, ...]
    dry_run: bool = False


def kept_from(today: date, days: int, *, whole_months: bool) -> date:
    """The first day whose raw visits are kept when they are kept `days` days; with
    `whole_months` (partitioned PostgreSQL) the first day of that day's month."""
    cutoff = today - timedelta(days=days)
    return partitions.month_start(cutoff) if whole_months else cutoff


async def pruned_before(session: AsyncSession) -> date | None:
    """The day before which raw visits were pruned (None: never): the rollups of earlier days
    cannot be recounted."""
    return await session.scalar(select(func.max(VisitPrune.kept_from)))


async def claim_run(
    session: AsyncSession, day: date, cutoff: date, now: datetime, *, force: bool = False
) -> bool:
    """Record that raw visits from before `cutoff` are going, as the run of `day`. Without
    `force` (the worker) only one run a day claims it: False when another process did so
    already (unless that one died, `STALE_CLAIM` ago). The caller commits before deleting."""
    upsert = (
        postgresql.insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite_dialect.insert
    )
    statement = upsert(VisitPrune).values(
        day=day,
        kept_from=cutoff,
        started_at=now,
        finished_at=None,
        visits_deleted=0,
        partitions_dropped=0,
    )
    later = case(
        (statement.excluded.kept_from > VisitPrune.kept_from, statement.excluded.kept_from),
        else_=VisitPrune.kept_from,
    )
    unfinished_and_stale = (VisitPrune.finished_at.is_(None)) & (
        VisitPrune.started_at < now - STALE_CLAIM
    )
    claim = statement.on_conflict_do_update(
        index_elements=[VisitPrune.day],
        set_={"kept_from": later, "started_at": now, "finished_at": None},
        where=None if force else unfinished_and_stale,
    ).returning(VisitPrune.day)
    return (await session.execute(claim)).first() is not None


async def finish_run(
    session: AsyncSession, day: date, result: PruneResult, now: datetime, *, done: bool = True
) -> None:
    """Add what the run of `day` removed to its record and mark it done (unless not `done`: a
    stopped run, which another process takes over once its claim is stale). The caller
    commits."""
    run = await session.get(VisitPrune, day)
    if run is None:
        return
    if done:
        run.finished_at = now
    run.visits_deleted += result.visits_deleted
    run.partitions_dropped += len(result.partitions_dropped)
    await session.flush()


def _go_on() -> bool:
    return True


async def prune_visits(
    database: Database,
    cutoff: date,
    *,
    dry_run: bool = False,
    batch_size: int = DELETE_BATCH,
    keep_going: Callable[[], bool] = _go_on,
) -> PruneResult:
    """Remove every raw visit dated before `cutoff`, in short transactions of its own (claim the
    run first: `claim_run`). `keep_going` is asked between transactions; once it says False (the
    worker is stopping), the rest is left for the next run."""
    async with database.session(write=False) as session:
        partitioned = await partitions.is_partitioned(session)
        months = [
            partition
            for partition in (await partitions.month_partitions(session) if partitioned else [])
            if partition.end <= cutoff
        ]
        if dry_run:
            count = await session.scalar(
                select(func.count()).select_from(Visit).where(Visit.day < cutoff)
            )
            names = tuple(partition.name for partition in months)
            return PruneResult(cutoff, int(count or 0), names, dry_run=True)
        handle_ids = list(await session.scalars(select(Handle.id).order_by(Handle.id)))

    deleted = 0
    dropped: list[str] = []
    for partition in months:
        if not keep_going():
            break
        async with database.session() as session:
            rows = await partitions.drop_month(session, partition)
            await session.commit()
        if rows is not None:  # not dropped by another process meanwhile
            deleted += rows
            dropped.append(partition.name)
    for handle_id in handle_ids:
        while keep_going():
            async with database.session() as session:
                connection = await session.connection()
                result = await connection.execute(
                    _DELETE, {"kept_from": cutoff, "handle_id": handle_id, "limit": batch_size}
                )
                await session.commit()
            removed = max(result.rowcount, 0)
            deleted += removed
            if removed < batch_size:
                break
    return PruneResult(cutoff, deleted, tuple(dropped))


async def run_retention(
    database: Database,
    days: int,
    zone: ZoneInfo,
    *,
    now: datetime,
    force: bool = False,
    dry_run: bool = False,
    keep_going: Callable[[], bool] = _go_on,
) -> PruneResult | None:
    """Prune the raw visits `days` days of retention leave behind (whole months on partitioned
    PostgreSQL), as today's run: claimed first (`claim_run`; without `force`, None when another
    process has claimed today's run), recorded when done."""
    today = now.astimezone(zone).date()
    async with database.session(write=False) as session:
        partitioned = await partitions.is_partitioned(session)
    cutoff = kept_from(today, days, whole_months=partitioned)
    if dry_run:
        return await prune_visits(database, cutoff, dry_run=True)
    async with database.session() as session:
        claimed = await claim_run(session, today, cutoff, now, force=force)
        await session.commit()
    if not claimed:
        return None
    result = await prune_visits(database, cutoff, keep_going=keep_going)
    async with database.session() as session:
        await finish_run(session, today, result, utcnow(), done=keep_going())
        await session.commit()
    return result
