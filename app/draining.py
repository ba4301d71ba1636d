"""Draining before a stop: on SIGTERM the served process says "not ready" for a while, keeps
serving, and only then lets uvicorn stop.

A proxy in front of several replicas learns from its health checks (`/readyz`) that one is
going away. Without a drain, uvicorn closes its listening socket the moment SIGTERM arrives:
connections the kernel had already accepted for it are reset, and the proxy keeps sending new
requests to it until its checks fail. With `LEADLINK_SHUTDOWN_DRAIN_SECONDS` set longer than the
proxy needs to mark the replica down, the proxy has moved every new request to the other
replicas before the listener closes; then uvicorn's graceful shutdown finishes the requests in
flight and the lifespan flushes the writers (docs/production.md, "Several replicas").

The handler is installed from the lifespan of the served process, inside uvicorn's own signal
handling, and wraps uvicorn's handler: after the drain it hands the signal on. A second SIGTERM
during the drain stops at once; SIGINT (Ctrl-C) is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["Drain"]

Handler = Callable[[int, FrameType | None], Any]

logger = logging.getLogger(__name__)


class Drain:
    """Whether this process is draining, and the SIGTERM handler that starts the drain."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started_at: float | None = None

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def install(self) -> bool:
        """Wrap the current SIGTERM handler (uvicorn's); False when there is nothing to do:
        no drain configured, not the main thread, or no Python handler to hand on to."""
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False
        loop = asyncio.get_running_loop()

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.started_at is not None:
                previous(signum, frame)  # a second SIGTERM: no more waiting
                return
            self.started_at = time.monotonic()
            # A signal handler may interrupt the loop anywhere: only the thread-safe call.
            loop.call_soon_threadsafe(self._begin, loop, previous, signum)

        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    def _begin(self, loop: asyncio.AbstractEventLoop, previous: Handler, signum: int) -> None:
        logger.warning(
            "SIGTERM: /readyz answers 503 for %.1f s while requests are still served, "
            "then the server stops (LEADLINK_SHUTDOWN_DRAIN_SECONDS)",
            self.seconds,
        )
        loop.call_later(self.seconds, previous, signum, None)
