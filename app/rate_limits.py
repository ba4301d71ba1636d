"""Rate limits with the `limits` package: in memory by default, in Redis when
`LEADLINK_REDIS_URL` is set so that every replica shares the same counters.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from app.config import Settings
from app.errors import TooManyRequests

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url, implementation="redispy", key_prefix="leadlink"
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @staticmethod
    def parse(expression: str) -> RateLimitItem:
        """`"20/minute"`, `"5 per hour"`: the notation of the `limits` package."""
        return parse(expression)

    async def hit(self, limit: RateLimitItem, *key: str, detail: str | None = None) -> None:
        """Count one event for `key`; raise 429 with Retry-After once the limit is reached."""
        if await self._strategy.hit(limit, *key):
            return
        stats = await self._strategy.get_window_stats(limit, *key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(retry_after, detail or "Too many attempts; please wait a moment.")
