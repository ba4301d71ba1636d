"""The `Idempotency-Key` request header, as a parameter of every write route (a fresh random
value, such as a UUID, for each distinct write)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from app import patterns
from app.idempotency.exceptions import HEADER

# Printable ASCII without blanks at either end (HTTP drops those anyway).

__all__ = ["IdempotencyKeyHeader"]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=255,
        pattern=patterns.IDEMPOTENCY_KEY,
        description=(
            "Makes the write safe to retry: the same key with the same body returns the first "
            "response (with `Idempotent-Replayed: true`) for 24 hours; with another body, 422. "
            "A second request while the first is running waits for it and replays it."
        ),
    ),
]
