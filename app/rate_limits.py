"""Rate limits with the `limits` package: in memory by default, in Redis when
`LEADLINK_REDIS_URL` is set so that every replica shares the same counters.
"""

from __future__ import annotations

import functools
import math
import time
from collections import deque

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from app.config import Settings
from app.errors import TooManyRequests

__all__ = ["RateLimiter", "SweepingMemoryStorage"]

SWEEP_INTERVAL_SECONDS = 10.0


class SweepingMemoryStorage(MemoryStorage):
    """`limits`' in-memory storage, with moving windows the garbage collector need not walk.

    Upstream keeps each window as a list of `Entry` objects (newest first, so every hit shifts
    the whole list), guards each key with an `asyncio.Lock`, and schedules a sweep of *every*
    key after each hit, hopping to a thread once per key. The opt-in limit has one key per email
    address, so after a busy hour each opt-in paid for thousands of thread hops, and the millions
    of small objects made every full garbage collection longer (docs/bench.md has the figures).

    Here a window is a deque of hit times (floats, oldest first): a hit appends, expired times
    fall off the front, no lock is needed because nothing awaits in between, and a sweep (at
    most once per `sweep_interval`) drops the keys whose windows have passed. The decisions are
    upstream's: a hit is refused when the window already holds `limit` hits.
    """

    def __init__(self, sweep_interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        super().__init__()
        self.sweep_interval = sweep_interval
        self._next_sweep = 0.0
        self.windows: dict[str, deque[float]] = {}
        self._window_seconds: dict[str, float] = {}

    # Overrides the private hook that `MemoryStorage` calls on every counter hit (name-mangled).
    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802
        self._sweep_now_and_then(time.time())

    def _sweep_now_and_then(self, now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval
            self.sweep(now)

    def _current(self, key: str, expiry: float, now: float) -> deque[float]:
        hits = self.windows.get(key)
        if hits is None:
            hits = self.windows[key] = deque()
        self._window_seconds[key] = expiry
        cutoff = now - expiry
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        self._sweep_now_and_then(now)
        hits = self._current(key, expiry, now)
        if len(hits) + amount > limit:
            return False
        hits.extend([now] * amount)
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(the oldest hit still in the window, or now; how many hits the window holds)."""
        now = time.time()
        hits = self._current(key, expiry, now) if key in self.windows else None
        return (hits[0], len(hits)) if hits else (now, 0)

    async def clear(self, key: str) -> None:
        await super().clear(key)
        self.windows.pop(key, None)
        self._window_seconds.pop(key, None)

    async def reset(self) -> int | None:
        count = await super().reset()
        self.windows.clear()
        self._window_seconds.clear()
        return count

    def sweep(self, now: float) -> None:
        """Drop passed windows and expired counters; synchronous, so no hit interleaves."""
        for key, hits in list(self.windows.items()):
            cutoff = now - self._window_seconds[key]
            while hits and hits[0] <= cutoff:
                hits.popleft()
            if not hits:
                del self.windows[key]
                del self._window_seconds[key]
        for key, expires_at in list(self.expirations.items()):
            if expires_at <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=settings.redis_key_prefix,
            )
        else:
            storage = SweepingMemoryStorage()
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def parse(expression: str) -> RateLimitItem:
        """`"20/minute"`, `"5 per hour"`: the notation of the `limits` package (parsed once)."""
        return parse(expression)

    async def hit(self, limit: RateLimitItem, *key: str, detail: str | None = None) -> None:
        """Count one event for `key`; raise 429 with Retry-After once the limit is reached."""
        if await self._strategy.hit(limit, *key):
            return
        stats = await self._strategy.get_window_stats(limit, *key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(retry_after, detail or "Too many attempts; please wait a moment.")
