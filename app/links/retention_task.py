"""The background task of visit retention, run by the process that runs the outbox worker
(`leadlink worker`, or the app itself with LEADLINK_OUTBOX_IN_PROCESS=true).

Every `interval` (an hour) it makes the coming months' partitions of `visits` on PostgreSQL, and
once a day it prunes the raw visits older than LEADLINK_VISIT_RETENTION_DAYS
(app/links/retention.py). The day's run is claimed in the database (`visit_prunes`), so with
several workers, or after a restart, the prune still runs once a day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.background import BackgroundLoop, Step
from app.config import Settings
from app.db import Database, utcnow
from app.links import partitions, retention

__all__ = ["VisitRetention"]

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 3600.0
FIRST_BACKOFF_SECONDS = 60.0


class VisitRetention(BackgroundLoop):
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        interval: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            "visit-retention",
            logger,
            interval=interval,
            first_backoff=min(FIRST_BACKOFF_SECONDS, interval),
            max_backoff=interval,
        )
        self.database = database
        self.days = settings.visit_retention_days
        self.zone = ZoneInfo(settings.report_tz)
        self.clock = clock

    async def stop(self, *, deadline_seconds: float | None = 15.0) -> None:
        """End after the transaction in hand (a prune stops between its batches)."""
        await super().stop(deadline_seconds=deadline_seconds)

    async def _step(self) -> Step:
        try:
            await self.run_once()
        except Exception:
            logger.exception("visit retention failed; will try again in %.0f s", self._backoff)
            return Step.FAILED
        return Step.IDLE

    def today(self) -> date:
        """Today in the report time zone, the zone of `visits.day`."""
        return self.clock().astimezone(self.zone).date()

    async def run_once(self) -> retention.PruneResult | None:
        """Make the coming months' partitions; prune unless today's prune ran already (or
        retention is off). Returns what this call pruned, None when it did not prune."""
        today = self.today()
        async with self.database.session(write=False) as session:
            partitioned = await partitions.is_partitioned(session)
        if partitioned:
            async with self.database.session() as session:
                made = await partitions.ensure_months(session, today)
                await session.commit()
            if made:
                logger.info("visits: partitions made: %s", ", ".join(made))
        if self.days == 0:
            return None
        result = await retention.run_retention(
            self.database,
            self.days,
            self.zone,
            now=self.clock(),
            keep_going=lambda: not self._stopping,
        )
        if result is None:
            return None
        logger.info(
            "visits: %d raw visits from before %s pruned (%d monthly partitions dropped); "
            "the rollups keep their counts",
            result.visits_deleted,
            result.kept_from.isoformat(),
            len(result.partitions_dropped),
        )
        return result
