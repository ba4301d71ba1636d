"""The in-memory rate limit storage: limits still hold between sweeps, and a sweep frees the
keys whose windows have passed (one key per email address must not pile up forever)."""

from __future__ import annotations

import gc
import time

import pytest
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
    assert len(storage.windows) == 3, "no sweep yet: the interval has not passed"
    assert storage.timer is None, "no background task sweeping every key after each hit"

    storage.sweep(time.time() + 1.5)
    assert storage.windows == {}, "every window has passed"
    assert storage.locks.keys() == set(), "no lock per key either"


async def test_a_sweep_keeps_entries_still_inside_their_window() -> None:
    storage = SweepingMemoryStorage(sweep_interval=3600)
    limiter = MovingWindowRateLimiter(storage)
    per_ip = parse("2/minute")
    assert await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7")
    assert await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7")

    storage.sweep(time.time() + 1)
    assert not await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7"), "still limited"


async def test_hits_trigger_a_sweep_once_the_interval_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = SweepingMemoryStorage(sweep_interval=0.05)
    limiter = MovingWindowRateLimiter(storage)
    short = parse("5/second")
    assert await limiter.hit(short, "opt-in-email", "old@example.com")
    # 1.1 s later by the clock the storage reads: the old entry's window passes, and so does
    # the sweep interval.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 1.1)

    assert await limiter.hit(short, "opt-in-email", "new@example.com")
    assert len(storage.windows) == 1
    assert "new@example.com" in next(iter(storage.windows))


async def test_thousands_of_addresses_leave_little_for_the_garbage_collector() -> None:
    """Every full garbage collection walks what the limiter keeps: upstream's storage kept an
    object per hit plus a lock per key, and the pauses grew with the traffic of the last hour
    (80 ms within a minute of a fast opt-in load). Now a key costs one container."""
    storage = SweepingMemoryStorage(sweep_interval=3600)
    limiter = MovingWindowRateLimiter(storage)
    per_email, per_ip = parse("5/hour"), parse("100000/minute")
    await limiter.hit(per_ip, "warm-up")  # the first hit creates the limiter's own state
    gc.collect()
    before = len(gc.get_objects())
    for number in range(10_000):
        assert await limiter.hit(per_email, "opt-in-email", f"a{number}@example.com")
        assert await limiter.hit(per_ip, "opt-in-ip", "demo", "203.0.113.7")
    gc.collect()
    tracked = len(gc.get_objects()) - before
    assert tracked <= 10_100, f"{tracked} objects tracked for 10,000 addresses and 10,000 hits"
    stats = await limiter.get_window_stats(per_email, "opt-in-email", "a1@example.com")
    assert stats.remaining == 4
