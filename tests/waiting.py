"""Waiting for background work without guessing how long it takes: poll a condition often, up to
a deadline that fails the test with what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "wait_until"]


def wait_until(
    condition: Callable[[], object], *, timeout: float, interval: float = 0.02, what: str = ""
) -> None:
    """Poll `condition()` every `interval` until it is truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition!r}")
        time.sleep(interval)


async def eventually(
    condition: Callable[[], object | Awaitable[object]],
    *,
    within: float = 5.0,
    interval: float = 0.01,
    what: str = "",
) -> None:
    """Poll `condition()` (awaited if it returns an awaitable) until it is truthy, letting the
    event loop run in between; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"not within {within} s: {what or condition!r}")
        await asyncio.sleep(interval)
