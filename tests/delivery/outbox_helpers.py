"""The outbox tests' clock, moved by hand. (The builders of queued emails are in
tests/factories.py; `enqueue_ping` and `load` stay importable from here for the worker-command
test.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.db import utcnow
from tests.factories import PING, enqueue_ping
from tests.factories import load_message as load

__all__ = ["PING", "Clock", "enqueue_ping", "load"]


class Clock:
    """Real time plus an offset the test moves: `advance(hours=1)`, `jump_to(when)`."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def jump_to(self, when: datetime) -> None:
        self.offset += max(when - self(), timedelta())
