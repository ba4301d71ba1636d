"""Helpers of the outbox tests: a clock moved by hand, queueing the ping email, reading back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.db import Database, utcnow
from app.delivery import service as outbox
from app.delivery.models import OutboxMessage

PING = {"note": "Checking the pipes.", "link": "http://127.0.0.1:8000/p/demo"}


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


async def enqueue_ping(
    db: Database, to: str = "ann@example.com", *, lead_id: int | None = None, **context: Any
) -> int:
    """Queue the ping email and commit; returns the message id."""
    async with db.session() as session:
        message = await outbox.enqueue_email(
            session, to=to, template="ping", context={**PING, **context}, lead_id=lead_id
        )
        await session.commit()
        return message.id


async def load(db: Database, message_id: int) -> OutboxMessage:
    async with db.session(write=False) as session:
        message = await session.get(OutboxMessage, message_id)
        assert message is not None
        return message
