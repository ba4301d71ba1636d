"""The write-behind buffer of visits and the task that writes it in batches.

Requests append to a bounded in-memory buffer and return at once; a task owned by the app's
lifespan writes the buffer every `interval` seconds, or sooner once a batch is full. When the
buffer is full, the request writes its own visit before answering (backpressure). A failed batch
is put back and retried with back-off; the lifespan flushes what is left on shutdown.

Durability bound: a `kill -9` loses what is not committed yet — the visits since the batch in
hand was taken: `interval` (200 ms) plus one commit's time while the server keeps up (a commit
waits its turn on a saturated event loop: seconds, measured in docs/reliability.md), and never
more than `max_buffered`, also while the database is failing. Leads never go through here: they
are committed before their response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import date

from sqlalchemy.exc import IntegrityError

from app import metrics
from app.background import BackgroundLoop, Step
from app.db import Database
from app.links.visits import VisitRecord, prune_visitor_ledger, write_visits

__all__ = ["VisitWriter"]

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 3600.0


class VisitWriter(BackgroundLoop):
    def __init__(
        self,
        database: Database,
        today: Callable[[], date],
        *,
        # Larger batches cost less CPU per visit (docs/bench.md); at a busy one link the 200 ms
        # timer fires first anyway.
        batch_size: int = 2000,
        max_buffered: int = 20_000,
        interval: float = 0.2,
    ) -> None:
        super().__init__(
            "visit-writer",
            logger,
            interval=interval,
            wait_first=True,
            # A failed batch is retried two intervals later, then twice as late each time.
            first_backoff=min(interval * 2, MAX_BACKOFF_SECONDS),
            max_backoff=MAX_BACKOFF_SECONDS,
            # The first prune (old salts are deleted there) comes right after start.
            every=PRUNE_EVERY_SECONDS,
            monotonic=time.monotonic,  # this module's clock: the tests move it
        )
        self.database = database
        self.today = today
        self.batch_size = batch_size
        self.max_buffered = max_buffered
        self._buffer: deque[VisitRecord] = deque()
        self._write_lock = asyncio.Lock()
        metrics.visit_buffer_size.set_function(lambda: len(self._buffer))

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def offer(self, visit: VisitRecord) -> bool:
        """Queue a visit unless the buffer is full (then False: the caller must `record` it)."""
        buffer = self._buffer
        if len(buffer) >= self.max_buffered:
            return False
        buffer.append(visit)
        if len(buffer) >= self.batch_size:
            self._wake.set()
        return True

    async def record(self, visit: VisitRecord) -> None:
        """Queue a visit; only when the buffer is full does this wait, writing it directly."""
        if not self.offer(visit):
            await self._write_directly(visit)

    async def stop(self, *, deadline_seconds: float | None = 10.0) -> None:
        """Stop the task and write everything still buffered, retrying until `deadline_seconds`
        have passed (None: until it is written)."""
        # Never cancel the task mid-batch (no deadline here): a popped batch would be lost.
        await super().stop()
        deadline = float("inf") if deadline_seconds is None else time.monotonic() + deadline_seconds
        while self._buffer and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(min(self._back_off(), max(0.0, deadline - time.monotonic())))
        if self._buffer:
            metrics.visits_lost.inc(len(self._buffer))
            logger.error("shutdown: %d visits could not be written and are lost", len(self._buffer))
            self._buffer.clear()

    async def flush(self) -> bool:
        """Write everything buffered now; False when a batch failed (it stays buffered).

        A batch another caller is already writing is waited for (the lock is taken before
        anything is popped), so on return every visit recorded before the call is committed.
        """
        async with self._write_lock:
            while self._buffer:
                size = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(size)]
                try:
                    await self._write_batch(batch)
                except Exception:
                    self._buffer.extendleft(reversed(batch))
                    metrics.visit_write_failures.inc()
                    logger.exception("writing %d visits failed; will retry", len(batch))
                    return False
                # Progress: a batch failing after this one is retried after the first back-off.
                self._backoff = self._first_backoff
        return True

    async def _step(self) -> Step:
        return Step.IDLE if await self.flush() else Step.FAILED

    async def _write_batch(self, batch: list[VisitRecord]) -> None:
        try:
            await self._commit(batch)
        except IntegrityError:
            # One bad row (say, its handle was deleted meanwhile) must not block the rest.
            for visit in batch:
                try:
                    await self._commit([visit])
                except IntegrityError:
                    if visit.route_id is not None and await self._commit_without_route(visit):
                        continue
                    metrics.visits_lost.inc()
                    logger.error("visit %s refused by the database and dropped", visit.ref)

    async def _commit_without_route(self, visit: VisitRecord) -> bool:
        """A visit whose route was removed meanwhile still counts, as its row would have had
        the route set to NULL had it been written before the removal.
        """
        visit.route_id = None
        try:
            await self._commit([visit])
        except IntegrityError:
            return False
        return True

    async def _commit(self, batch: list[VisitRecord]) -> None:
        async with self.database.session() as session:
            await write_visits(session, batch)
            await session.commit()
        for kind, count in Counter(visit.kind for visit in batch).items():
            metrics.visits_recorded.labels(kind).inc(count)

    async def _write_directly(self, visit: VisitRecord) -> None:
        try:
            await self._commit([visit])
        except Exception:
            metrics.visits_lost.inc()
            logger.exception("buffer full and the direct write failed: visit %s lost", visit.ref)

    async def _now_and_then(self) -> None:
        try:
            async with self.database.session() as session:
                await prune_visitor_ledger(session, self.today())
                await session.commit()
        except Exception:
            logger.exception("pruning the visitor ledger failed; will try again later")
