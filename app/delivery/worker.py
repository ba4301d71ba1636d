"""The outbox worker: claims due messages, hands each to the handler of its kind, and settles it
(sent, retried later with exponential back-off, or failed once its retry budget is spent).

It runs inside the app process by default (started by the lifespan) and as its own process
with `leadlink worker`. Several workers may run against one database: a claim is a lease, and
PostgreSQL's `SKIP LOCKED` keeps two workers off the same message. The worker knows no kind of
message itself: whoever starts it hands it a handler (and retry policy) per kind
(`app.outbox_handlers`), so the domains that queue work never import the worker or each other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from app import metrics
from app.background import BackgroundLoop, Step
from app.db import Database, utcnow
from app.delivery import service as outbox
from app.delivery.exceptions import PermanentFailure, TemporaryFailure
from app.delivery.models import OutboxMessage

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "Handler",
    "OutboxWorker",
    "RetryPolicy",
]

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], Awaitable[str | None]]
"""Delivers one message; raises `TemporaryFailure` (or anything) to retry, `PermanentFailure`
to give up at once. It may return what the log should say instead of "sent" (an email that the
development backend kept instead of sending): the message is settled either way."""

MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
MAX_IDLE_BACKOFF_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 3600.0
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off: `first_delay`, doubled after each failed attempt, capped at
    `max_delay`, stretched by up to `jitter` (never shortened, so `minimum_span` holds)."""

    max_attempts: int = 31
    first_delay: float = 30.0
    max_delay: float = 3600.0
    jitter: float = 0.2

    def base_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), before jitter."""
        return min(self.first_delay * 2.0 ** min(attempt - 1, 40), self.max_delay)

    def delay(self, attempt: int, rng: random.Random) -> float:
        return self.base_delay(attempt) * (1 + self.jitter * rng.random())

    @property
    def minimum_span(self) -> timedelta:
        """The shortest time between the first and the last attempt."""
        gaps = sum(self.base_delay(n) for n in range(1, self.max_attempts))
        return timedelta(seconds=gaps)


# 30 s, 1 min, 2 min … 32 min, then hourly: the 31st attempt comes after at least 24 h.
DEFAULT_RETRY_POLICY = RetryPolicy()


def _safe_for_log(text: str) -> str:
    """Error text without email addresses (log lines must not outlive an erased lead)."""
    return _ADDRESS.sub("<address>", " ".join(text.split()))[: outbox.MAX_ERROR_LENGTH]


SENT: Final = "sent"
RETRY: Final = "retry"
FAILED: Final = "failed"


@dataclass(frozen=True, slots=True)
class _Outcome:
    message: OutboxMessage
    status: Literal["sent", "retry", "failed"]
    error: str = ""
    delay: float = 0.0
    bug: BaseException | None = None  # an unexpected exception: logged with its traceback
    elapsed: float = 0.0
    settled_as: str | None = None  # the handler's own word for "sent", when it has one


class OutboxWorker(BackgroundLoop):
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        policies: Mapping[str, RetryPolicy] | None = None,
        batch_size: int = 20,
        poll_interval: float = 1.0,
        lease: timedelta = timedelta(minutes=5),
        attempt_timeout: float = 60.0,
        keep_sent_for: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if lease.total_seconds() <= attempt_timeout:
            raise ValueError("the lease must outlast an attempt, or a slow send is claimed twice")
        super().__init__(
            "outbox-worker",
            logger,
            interval=poll_interval,
            first_backoff=poll_interval,
            max_backoff=MAX_IDLE_BACKOFF_SECONDS,
            every=PRUNE_EVERY_SECONDS,
        )
        self.database = database
        self.policies = dict(policies or {})
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.lease = lease
        self.attempt_timeout = attempt_timeout
        self.keep_sent_for = keep_sent_for
        self.clock = clock
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret

    def policy(self, kind: str) -> RetryPolicy:
        return self.policies.get(kind, DEFAULT_RETRY_POLICY)

    async def stop(self, *, deadline_seconds: float | None = 15.0) -> None:
        """Finish the current batch, then end; after `deadline_seconds` the batch is abandoned (its
        leases expire and another worker sends it: at least once, never lost)."""
        await super().stop(deadline_seconds=deadline_seconds)

    async def run_forever(self) -> None:
        """Deliver until `request_stop()`; database outages are logged and waited out."""
        outbox.add_waker(self.wake)
        try:
            await super().run_forever()
        finally:
            outbox.remove_waker(self.wake)

    async def _step(self) -> Step:
        try:
            claimed = await self.run_once()
        except Exception:
            logger.exception("outbox: claiming messages failed; retrying in %.0f s", self._backoff)
            return Step.FAILED
        return Step.BUSY if claimed >= self.batch_size else Step.IDLE

    async def run_once(self) -> int:
        """Claim one batch of due messages and deliver it; returns how many were claimed."""
        now = self.clock()
        kinds = list(self.handlers)
        async with self.database.session(write=False) as session:
            if not await outbox.has_due(session, kinds=kinds, now=now):
                return 0
        async with self.database.session() as session:
            messages = await outbox.claim_due(
                session,
                kinds=kinds,
                now=now,
                lease_until=now + self.lease,
                limit=self.batch_size,
            )
            await session.commit()
        if messages:
            outcomes = await asyncio.gather(*(self._attempt(message) for message in messages))
            await self._record(outcomes)
        return len(messages)

    async def drain(self) -> int:
        """Deliver batches until nothing is due (tests and one-off runs); returns the count."""
        total = 0
        while claimed := await self.run_once():
            total += claimed
        return total

    async def _attempt(self, message: OutboxMessage) -> _Outcome:
        """Hand the message to its handler; never raises (but lets cancellation through)."""
        policy = self.policy(message.kind)
        if message.attempts > policy.max_attempts:
            # The worker of the last attempt died before recording it; the budget is spent.
            return _Outcome(message, FAILED, "retry budget spent (the last attempt was lost)")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.attempt_timeout):
                settled_as = await self.handlers[message.kind](message)
        except PermanentFailure as exc:
            return _Outcome(message, FAILED, f"refused: {exc}")
        except Exception as exc:
            error = _describe(exc)
            if message.attempts >= policy.max_attempts:
                budget = f"retry budget spent after {message.attempts} attempts: {error}"
                return _Outcome(message, FAILED, budget)
            delay = policy.delay(message.attempts, self._rng)
            if isinstance(exc, TemporaryFailure) and exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_SECONDS))
            expected = isinstance(exc, (TemporaryFailure, OSError, TimeoutError))
            return _Outcome(message, RETRY, error, delay, None if expected else exc)
        elapsed = time.monotonic() - started
        return _Outcome(message, SENT, elapsed=elapsed, settled_as=settled_as)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        """Settle a batch in one transaction (one write-lock on SQLite), then log and count.

        If recording fails, the leases run out and the batch is attempted again: a message
        may then be sent twice, never lost.
        """
        now = self.clock()
        try:
            async with self.database.session() as session:
                sent = [outcome.message.id for outcome in outcomes if outcome.status == SENT]
                await outbox.mark_sent(session, sent, now=now)
                for outcome in outcomes:
                    if outcome.status == RETRY:
                        at = now + timedelta(seconds=outcome.delay)
                        await outbox.schedule_retry(
                            session, outcome.message.id, at=at, error=outcome.error
                        )
                    elif outcome.status == FAILED:
                        await outbox.mark_failed(session, outcome.message.id, error=outcome.error)
                await session.commit()
        except Exception:
            logger.exception("outbox: recording the outcome of %d messages failed", len(outcomes))
        for outcome in outcomes:
            self._report(outcome)

    def _report(self, outcome: _Outcome) -> None:
        message = outcome.message
        if outcome.status == SENT:
            metrics.outbox_sent.labels(message.kind).inc()
            logger.info(
                "outbox %s %d %s (attempt %d, %.0f ms)",
                message.kind,
                message.id,
                outcome.settled_as or "sent",
                message.attempts,
                outcome.elapsed * 1000,
            )
        elif outcome.status == RETRY:
            metrics.outbox_retries.labels(message.kind).inc()
            logger.warning(
                "outbox %s %d: attempt %d of %d failed, next in %.0f s: %s",
                message.kind,
                message.id,
                message.attempts,
                self.policy(message.kind).max_attempts,
                outcome.delay,
                _safe_for_log(outcome.error),
                exc_info=outcome.bug,
            )
        else:
            metrics.outbox_failed.labels(message.kind).inc()
            logger.error(
                "outbox %s %d failed for good after %d attempts: %s",
                message.kind,
                message.id,
                message.attempts,
                _safe_for_log(outcome.error),
            )

    async def _now_and_then(self) -> None:
        try:
            async with self.database.session() as session:
                pruned = await outbox.prune_sent(session, before=self.clock() - self.keep_sent_for)
                await session.commit()
        except Exception:
            logger.exception("outbox: pruning sent messages failed; will try again later")
            return
        if pruned:
            logger.info("outbox: deleted %d messages sent over %s ago", pruned, self.keep_sent_for)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    if isinstance(exc, TemporaryFailure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
