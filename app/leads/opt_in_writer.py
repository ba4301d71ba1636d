"""Group commit of first opt-ins: the new leads of many requests written in one transaction.

Each request hands its opt-in to the writer and waits for the transaction that holds it to
commit; only then does it answer 303. So nothing is acknowledged before it is durable, and under
load one transaction (one SQLite write lock, one fsync, a handful of statements) carries every
lead that arrived while the previous one was being written, instead of each request queueing
for the write lock and taking it for a dozen round trips of its own.

A batch writes, per new lead, the `leads` row, its consent record and its first email, plus the
`lead.created` webhook deliveries when an endpoint is subscribed. SQLite writes it in one hop to
its thread (`sqlite_batch`), PostgreSQL in one statement that is its own transaction
(`postgres_batch`); with an endpoint, both take the general path through SQLAlchemy. An address
the page already knows is not written here: the caller gets `None` and runs the
repeat-submission rules of `app.leads.service.submit_opt_in` in a transaction of its own.
When a batch fails, its opt-ins are retried one per transaction, so one refused row cannot fail
the others; the ones that still fail raise to their own requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.background import BackgroundLoop, Step
from app.db import Database, utcnow
from app.delivery import service as delivery
from app.delivery.models import OutboxMessage
from app.leads import events, postgres_batch, sqlite_batch
from app.leads import service as leads
from app.leads.forms import OptInForm
from app.leads.models import ConsentEvent, Lead
from app.leads.tokens import LeadLinks
from app.links.attribution import FormAttribution
from app.pages.models import Page
from app.webhooks import events as webhooks_events

__all__ = ["NewOptIn", "OptInWriter"]

logger = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class NewOptIn:
    """A valid opt-in, ready to become a lead."""

    page: Page
    form: OptInForm
    attribution: FormAttribution | None
    received_at: datetime

    @property
    def key(self) -> tuple[int, str]:
        return (self.page.id, self.form.email)


_Waiting = tuple[NewOptIn, "asyncio.Future[int | None]"]


class OptInWriter(BackgroundLoop):
    """Owned by the app's lifespan: `start()`, `write()` from requests, `stop()` on shutdown
    (which ends the task, never mid-batch, then writes what is still queued)."""

    def __init__(self, database: Database, links: LeadLinks, *, max_batch: int = MAX_BATCH) -> None:
        # Woken by each queued opt-in, and only then: no timer, no back-off (a failed batch
        # fails its requests, it is not retried).
        super().__init__("opt-in-writer", logger, interval=None, wait_first=True)
        self.database = database
        self.links = links
        self.max_batch = max_batch
        self._queue: deque[_Waiting] = deque()
        self._postgres = postgres_batch.LeadBatches()
        self._last_batch = 0

    async def write(self, opt_in: NewOptIn) -> int | None:
        """The new lead's id once committed, or `None` when the page already knows the address.

        Raises what writing it raised (a database error becomes the request's 503).
        """
        if self._task is None or self._task.done():
            # Not started, or stopping: write it in a transaction of its own.
            return (await self._commit([opt_in]))[0]
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((opt_in, future))
        self._wake.set()
        return await future

    async def _step(self) -> Step:
        while self._queue:
            size = min(self.max_batch, len(self._queue))
            await self._write_batch([self._queue.popleft() for _ in range(size)])
        return Step.IDLE

    async def _finish(self) -> None:
        # A loop told to stop ends without another step: what it left queued is written here.
        await self._step()

    async def _write_batch(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._commit([opt_in for opt_in, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exception=exc)
                return
            logger.warning("a batch of %d opt-ins failed (%s); writing them one by one",
                           len(batch), type(exc).__name__)  # fmt: skip
            for waiting in batch:
                await self._write_batch([waiting])
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, result=outcome)

    async def _commit(self, opt_ins: list[NewOptIn]) -> list[int | None]:
        rows = [
            leads.new_lead_values(o.page, o.form, o.attribution, o.received_at) for o in opt_ins
        ]
        if self.database.dialect_name == "postgresql":
            written = await self._write_on_postgres(opt_ins, rows)
            if written is not None:
                return written
        async with self.database.session(write=True) as session:
            connection = await session.connection()
            lead_ids = None
            if connection.dialect.name == "sqlite":
                lead_ids = await sqlite_batch.insert_new_leads(
                    connection, rows, lambda ids: self._first_steps(opt_ins, ids)
                )
            if lead_ids is None:
                lead_ids = await self._insert_leads(connection, opt_ins, rows)
                consents, messages = self._first_steps(opt_ins, lead_ids)
                if consents:
                    await connection.execute(insert(ConsentEvent), consents)
                    await connection.execute(insert(OutboxMessage), messages)
                    await self._announce(session, rows, lead_ids)
            if any(lead_id is not None for lead_id in lead_ids):
                delivery.mark_enqueued(session)
            await session.commit()
        return lead_ids

    async def _write_on_postgres(
        self, opt_ins: list[NewOptIn], rows: list[dict[str, Any]]
    ) -> list[int | None] | None:
        """The batch in one statement (`postgres_batch`), or `None` when an endpoint may want
        `lead.created` (nothing written: the general path below writes it)."""
        # The next batch is likely as large as this one, the last one or the queue already is.
        expected = max(len(opt_ins), self._last_batch, len(self._queue))
        self._last_batch = len(opt_ins)
        async with self.database.autocommit() as connection:
            written = await self._postgres.insert_new_leads(
                connection, rows, lambda ids: self._first_steps(opt_ins, ids), expected=expected
            )
        if written is not None and any(lead_id is not None for lead_id in written):
            delivery.wake_workers()  # committed: no session's commit to do it
        return written

    @staticmethod
    async def _insert_leads(
        connection: AsyncConnection, opt_ins: list[NewOptIn], rows: list[dict[str, Any]]
    ) -> list[int | None]:
        """One multi-row INSERT; an address already there (or twice in the batch) inserts
        nothing, and only the first opt-in of an address gets the new id."""
        upsert: Any = (
            postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        )
        statement = (
            upsert(Lead)
            .on_conflict_do_nothing(index_elements=["page_id", "email"])
            .returning(Lead.id, Lead.page_id, Lead.email)
        )
        result = await connection.execute(statement, rows)
        new_ids = {(row.page_id, row.email): row.id for row in result}
        return [new_ids.pop(opt_in.key, None) for opt_in in opt_ins]

    def _first_steps(
        self, opt_ins: list[NewOptIn], lead_ids: list[int | None]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The consent records and first emails of the new leads (`None`: not new)."""
        now = utcnow()
        consents: list[dict[str, Any]] = []
        emails: list[tuple[int, dict[str, Any]]] = []
        for opt_in, lead_id in zip(opt_ins, lead_ids, strict=True):
            if lead_id is None:
                continue
            source = opt_in.attribution.source if opt_in.attribution else "direct"
            consent = leads.consent_values(
                lead_id, opt_in.page, "opt_in", checkbox=opt_in.form.consent, source=source
            )
            consents.append({**consent, "created_at": now})
            emails.append(
                (lead_id, leads.welcome_email(lead_id, opt_in.page, opt_in.form, self.links))
            )
        return consents, delivery.email_rows(emails, now)

    @staticmethod
    async def _announce(
        session: AsyncSession, rows: list[dict[str, Any]], lead_ids: list[int | None]
    ) -> None:
        """`lead.created` for the new leads, when any endpoint could want it."""
        if not await webhooks_events.any_endpoint(session):
            return
        for values, lead_id in zip(rows, lead_ids, strict=True):
            if lead_id is not None:
                await events.announce(session, "lead.created", Lead(id=lead_id, **values))


def _settle(
    future: asyncio.Future[int | None],
    *,
    result: int | None = None,
    exception: BaseException | None = None,
) -> None:
    # A request that went away (client disconnect) no longer waits: its future is cancelled.
    with contextlib.suppress(asyncio.InvalidStateError):
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
