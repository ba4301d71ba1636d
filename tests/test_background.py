"""The loop the background writers and the outbox worker share: waking, back-off, the hook that
runs now and then, and a stop that never cancels a step before its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable

import pytest

from app.background import BackgroundLoop, Step

logger = logging.getLogger("leadlink.tests.background")

Event = str | float | None  # "step", "hook", "finish", or the seconds a pause was asked for


class Scripted(BackgroundLoop):
    """Steps with the given outcomes, then asks to stop. Its pauses take no time: each one is
    recorded and moves the injected clock on by the seconds it was asked for."""

    def __init__(
        self,
        outcomes: list[Step],
        *,
        interval: float | None,
        wait_first: bool = False,
        first_backoff: float = 0.0,
        max_backoff: float = 0.0,
        every: float | None = None,
    ) -> None:
        self.now = 0.0
        super().__init__(
            "scripted-loop",
            logger,
            interval=interval,
            wait_first=wait_first,
            first_backoff=first_backoff,
            max_backoff=max_backoff,
            every=every,
            monotonic=lambda: self.now,
        )
        self.outcomes = deque(outcomes)
        self.events: list[Event] = []

    async def _step(self) -> Step:
        self.events.append("step")
        if not self.outcomes:
            self.request_stop()
            return Step.IDLE
        return self.outcomes.popleft()

    async def _now_and_then(self) -> None:
        self.events.append("hook")

    async def _finish(self) -> None:
        self.events.append("finish")

    async def _pause(self, seconds: float | None) -> None:
        self.events.append(seconds)
        self.now += seconds or 0.0
        await asyncio.sleep(0)


async def test_a_failing_step_backs_off_doubling_up_to_the_cap_and_a_success_resets_it() -> None:
    loop = Scripted(
        [Step.FAILED] * 4 + [Step.IDLE, Step.FAILED, Step.BUSY],
        interval=10.0,
        first_backoff=1.0,
        max_backoff=4.0,
    )

    await loop.run_forever()

    assert loop.events == [
        *("step", 1.0, "step", 2.0, "step", 4.0, "step", 4.0),  # doubled, then capped
        *("step", 10.0),  # a success: the interval
        *("step", 1.0),  # the next failure starts from the first back-off again
        "step",  # busy: the next step at once, no pause
        *("step", 10.0),  # the script's end asks to stop; the pause after it ends the loop
    ]


async def test_wait_first_pauses_before_the_first_step() -> None:
    loop = Scripted([], interval=0.2, wait_first=True)

    await loop.run_forever()

    assert loop.events[:2] == [0.2, "step"]


async def test_the_hook_runs_right_after_start_then_at_its_period_and_never_after_a_failure() -> (
    None
):
    # A clock far from zero, as on a machine up for days: the first run still comes at once.
    outcomes = [Step.IDLE, Step.IDLE, Step.IDLE, Step.FAILED, Step.IDLE, Step.IDLE, Step.IDLE]
    loop = Scripted(outcomes, interval=4.0, first_backoff=1.0, max_backoff=1.0, every=10.0)
    loop.now = 1_000_000.0

    await loop.run_forever()

    # t=0 hook; 4, 8 no; 12 fails (no hook); 13 hook (13 >= 10); 17, 21 no; 25 hook.
    assert loop.events == [
        *("step", "hook", 4.0),
        *("step", 4.0),
        *("step", 4.0),
        *("step", 1.0),
        *("step", "hook", 4.0),
        *("step", 4.0),
        *("step", 4.0),
        *("step", "hook", 4.0),
    ]


class Gated(BackgroundLoop):
    """Each step waits for `release`; records how it ended."""

    def __init__(self, interval: float | None = 60.0) -> None:
        super().__init__("gated-loop", logger, interval=interval, wait_first=True)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.steps = 0
        self.ended: list[str] = []

    async def _step(self) -> Step:
        self.steps += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        self.ended.append("done")
        return Step.IDLE

    async def _finish(self) -> None:
        self.ended.append("finish")


async def _within(awaitable: Awaitable[object], seconds: float = 2.0) -> None:
    await asyncio.wait_for(awaitable, seconds)


@pytest.mark.parametrize("interval", [60.0, None])
async def test_wake_steps_at_once_instead_of_at_the_end_of_the_interval(
    interval: float | None,
) -> None:
    loop = Gated(interval)
    loop.release.set()
    loop.start()
    try:
        await asyncio.sleep(0.02)
        assert loop.steps == 0  # waiting for the interval (or for ever)

        loop.wake()
        await _within(loop.started.wait())
        await asyncio.sleep(0.02)
        assert loop.steps == 1  # the wake-up was used once, not kept
    finally:
        await _within(loop.stop())
    assert loop.ended == ["done", "finish"]


async def test_stop_lets_the_step_in_hand_finish_before_the_deadline() -> None:
    loop = Gated()
    loop.start()
    loop.wake()
    await _within(loop.started.wait())

    stopping = asyncio.create_task(loop.stop(deadline_seconds=5.0))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    assert loop.ended == []  # neither cancelled nor finished: still writing its batch
    loop.release.set()
    await _within(stopping)

    assert loop.ended == ["done", "finish"]
    assert loop.steps == 1  # the stop ended the loop: no step after it


async def test_stop_without_a_deadline_never_cancels() -> None:
    loop = Gated()
    loop.start()
    loop.wake()
    await _within(loop.started.wait())

    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()
    loop.release.set()
    await _within(stopping)

    assert loop.ended == ["done", "finish"]


async def test_stop_cancels_the_step_once_the_deadline_has_passed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = Gated()
    loop.start()
    loop.wake()
    await _within(loop.started.wait())

    with caplog.at_level(logging.WARNING, logger=logger.name):
        await _within(loop.stop(deadline_seconds=0.05))

    assert loop.ended == ["cancelled", "finish"]
    assert "gated loop did not finish within 0 s; cancelling it" in caplog.text


async def test_request_stop_ends_a_loop_run_in_the_callers_task() -> None:
    # `leadlink worker` runs the loop itself and its signal handler calls request_stop().
    loop = Gated()
    loop.release.set()
    running = asyncio.create_task(loop.run_forever())
    loop.wake()
    await _within(loop.started.wait())

    loop.request_stop()
    await _within(running)

    assert loop.ended == ["done"]


async def test_a_stopped_loop_can_be_started_again() -> None:
    loop = Gated()
    loop.release.set()
    await loop.stop()  # never started: only the final flush
    loop.start()
    loop.wake()
    await _within(loop.started.wait())
    await _within(loop.stop())

    assert loop.ended == ["finish", "done", "finish"]
