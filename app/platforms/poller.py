"""The background task that fetches the platforms once a day, run where visit retention runs
(`leadlink worker`, or the app itself with LEADLINK_OUTBOX_IN_PROCESS=true).

Every minute (or at once when woken by **Fetch now**) it claims the due platform connections
and polls each (`app.platforms.polling`). Any number of workers may run it: a connection is
claimed by one of them. The clock is injectable so tests can move days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import httpx

from app.background import BackgroundLoop, Step
from app.config import Settings
from app.db import Database, utcnow
from app.platforms.polling import HTTP_TIMEOUT, PollResult, claim_due, poll_connection

__all__ = ["PlatformPoller"]

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 60.0
CLAIMED_AT_ONCE = 10


class PlatformPoller(BackgroundLoop):
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        interval: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            "platform-poller",
            logger,
            interval=interval,
            first_backoff=min(CHECK_EVERY_SECONDS, interval),
            max_backoff=600.0,
        )
        self.database = database
        self.settings = settings
        self.clock = clock
        self.transport = transport

    async def stop(self, *, deadline_seconds: float | None = 15.0) -> None:
        """End after the connection in hand (its HTTP calls have their own timeouts)."""
        await super().stop(deadline_seconds=deadline_seconds)

    async def _step(self) -> Step:
        try:
            polled = await self.run_once()
        except Exception:
            logger.exception("platform poller failed; will try again in %.0f s", self._backoff)
            return Step.FAILED
        return Step.BUSY if len(polled) >= CLAIMED_AT_ONCE and not self._stopping else Step.IDLE

    async def run_once(self) -> list[PollResult]:
        """Claim the due connections and poll each; what each poll did."""
        now = self.clock()
        claimed = await claim_due(self.database, now, limit=CLAIMED_AT_ONCE)
        results: list[PollResult] = []
        if not claimed:
            return results
        async with httpx.AsyncClient(
            timeout=HTTP_TIMEOUT, transport=self.transport, follow_redirects=False
        ) as http:
            for connection_id in claimed:
                if self._stopping:
                    break
                try:
                    result = await poll_connection(
                        self.database, self.settings, connection_id, now=self.clock(), http=http
                    )
                except Exception:  # the database failed mid-poll: the lease runs out, retried
                    logger.exception("polling connection %d failed", connection_id)
                    continue
                if result is not None:
                    results.append(result)
        return results
