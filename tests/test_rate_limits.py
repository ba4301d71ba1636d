"""The in-memory rate limit storage: limits still hold between sweeps, and a sweep frees the
keys whose windows have passed (one key per email address must not pile up forever)."""

from __future__ import annotations

import asyncio
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter

from app.rate_limits import SweepingMemoryStorage


async def test_limits_hold_between_sweeps_and_sweeps_free_expired_keys() -> None:
    storage = SweepingMemoryStorage(sweep_interval=3600)
    limiter = MovingWindowRateLimiter(storage)
    per_email = parse("2/second")

    for address in ("a@example.com", "b@example.com", "c@example.com"):
        assert await limiter.hit(per_email, "opt-in-email", address)
    assert await limiter.hit(per_email, "opt-in-email", "a@example.com")
    assert not await limiter.hit(per_email, "opt-in-email", "a@example.com"), "third within 1 s"
    assert len(storage.events) == 3, "no sweep yet: the interval has not passed"
    assert storage.timer is None, "no background task sweeping every key after each hit"

    storage.sweep(time.time() + 1.5)
    assert storage.events == {}, "every window has passed"
    assert storage.locks.keys() == set()


async def test_a_sweep_keeps_entries_still_inside_their_window() -> None:
    storage = SweepingMemoryStorage(sweep_interval=3600)
    limiter = MovingWindowRateLimiter(storage)
    per_ip = parse("2/minute")
    assert await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7")
    assert await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7")

    storage.sweep(time.time() + 1)
    assert not await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7"), "still limited"


async def test_hits_trigger_a_sweep_once_the_interval_has_passed() -> None:
    storage = SweepingMemoryStorage(sweep_interval=0.05)
    limiter = MovingWindowRateLimiter(storage)
    short = parse("5/second")
    assert await limiter.hit(short, "opt-in-email", "old@example.com")
    await asyncio.sleep(1.1)  # the old entry's window passes, and so does the sweep interval

    assert await limiter.hit(short, "opt-in-email", "new@example.com")
    assert len(storage.events) == 1
    assert "new@example.com" in next(iter(storage.events))
