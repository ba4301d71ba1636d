"""The skeleton the background loops share (visit writer, opt-in writer, outbox worker): wake,
back off on failure, run a hook now and then, and stop without cancelling a step mid-batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable

__all__ = ["BackgroundLoop", "Step"]


class Step(enum.Enum):
    """What one step reports, and so what the loop does next."""

    IDLE = enum.auto()  # wait for `wake()` or the interval
    BUSY = enum.auto()  # there is more to do: step again at once
    FAILED = enum.auto()  # wait the back-off (doubled after each failure in a row), then retry


class BackgroundLoop:
    """Runs `_step()` in a task of its own: each time it is woken, every `interval` seconds
    (None: only when woken) and, after a failed step, once the back-off has passed.

    The back-off is `first_backoff` after the first failure in a row, doubled after each further
    one up to `max_backoff`, and back to `first_backoff` after a step that did not fail. Every
    `every` seconds (None: never), right after a step that did not fail, `_now_and_then()` runs;
    the first time right after the first such step. `stop()` never cancels a step in hand unless
    its deadline has passed, then calls `_finish()` (the final flush).

    Subclasses give `_step()` and may give `_now_and_then()` and `_finish()`; the loop runs once
    per step, never per item, so the callers' fast paths only touch `_wake` (`_wake.set()`).
    """

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        *,
        interval: float | None,
        wait_first: bool = False,
        first_backoff: float = 0.0,
        max_backoff: float = 0.0,
        every: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._logger = logger
        self._interval = interval
        self._wait_first = wait_first
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._backoff = first_backoff
        self._every = every
        self._monotonic = monotonic
        # -inf, not 0.0: monotonic clocks count from an arbitrary point (boot, on Linux), and the
        # first run of the hook must come right after start whatever the clock reads.
        self._last_now_and_then = float("-inf")
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop in a task of the current event loop (the app's lifespan)."""
        self._stopping = False
        self._task = asyncio.create_task(self.run_forever(), name=self._name)

    def wake(self) -> None:
        """Step now instead of at the end of the interval (or of the back-off)."""
        self._wake.set()

    def request_stop(self) -> None:
        """End the loop once the step in hand is done (signal handlers call this)."""
        self._stopping = True
        self._wake.set()

    async def stop(self, *, deadline_seconds: float | None = None) -> None:
        """End the loop and wait for the step in hand; once `deadline_seconds` have passed
        (None: never) the step is cancelled. Then `_finish()`."""
        self.request_stop()
        task, self._task = self._task, None
        if task is not None:
            if deadline_seconds is None:
                await task
            else:
                await self._join(task, deadline_seconds)
        await self._finish()

    async def _join(self, task: asyncio.Task[None], deadline_seconds: float) -> None:
        try:
            # Shielded: the deadline ends the wait, and only then is the task cancelled.
            await asyncio.wait_for(asyncio.shield(task), deadline_seconds)
        except TimeoutError:
            self._logger.warning(
                "%s did not finish within %.0f s; cancelling it",
                self._name.replace("-", " "),
                deadline_seconds,
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_forever(self) -> None:
        """Step until `request_stop()`: in the task of `start()`, or in the caller's."""
        self._backoff = self._first_backoff
        pause = self._wait_first
        seconds = self._interval
        while True:
            if pause:
                await self._pause(seconds)
            if self._stopping:
                return
            step = await self._step()
            if step is Step.FAILED:
                pause, seconds = True, self._back_off()
                continue
            self._backoff = self._first_backoff
            if self._every is not None:
                now = self._monotonic()
                if now - self._last_now_and_then >= self._every:
                    self._last_now_and_then = now
                    await self._now_and_then()
            pause, seconds = step is not Step.BUSY, self._interval

    async def _pause(self, seconds: float | None) -> None:
        """Wait for `wake()`, or `seconds` (None: as long as it takes)."""
        if seconds is None:
            await self._wake.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _back_off(self) -> float:
        """The seconds to wait after this failure; the next failure in a row waits twice as long
        (up to `max_backoff`)."""
        delay = self._backoff
        self._backoff = min(delay * 2, self._max_backoff)
        return delay

    async def _step(self) -> Step:
        """One iteration: what the loop is for."""
        raise NotImplementedError

    async def _now_and_then(self) -> None:
        """Runs every `every` seconds (pruning); it handles its own errors."""

    async def _finish(self) -> None:
        """Runs in `stop()` once the loop has ended: the final flush."""
