"""The one entry point of idempotent writes: a write route takes `IdempotentWriteDep` (which
documents the `Idempotency-Key` header) and answers `await write.respond(key_id, body, run)`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app import patterns
from app.db import SessionDep
from app.idempotency import service
from app.idempotency.exceptions import HEADER
from app.idempotency.service import ApiResult

__all__ = ["ApiResult", "IdempotencyKeyHeader", "IdempotentWrite", "IdempotentWriteDep"]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=255,
        # Printable ASCII without blanks at either end (HTTP drops those anyway).
        pattern=patterns.IDEMPOTENCY_KEY,
        description=(
            "Makes the write safe to retry: the same key with the same body returns the first "
            "response (with `Idempotent-Replayed: true`) for 24 hours; with another body, 422. "
            "A second request while the first is running waits for it and replays it."
        ),
    ),
]


@dataclass(frozen=True, slots=True)
class IdempotentWrite:
    """The request being handled, its session and its `Idempotency-Key` (if any)."""

    request: Request
    session: AsyncSession
    key: str | None

    async def respond(
        self,
        api_key_id: int,
        body: BaseModel | None,
        run: Callable[[], Awaitable[ApiResult]],
    ) -> Response:
        """Run the write once per key and answer with its (stored) response.

        The request's method, path and `body` identify the write: a PATCH by the fields it
        sends (the ones it changes), any other write by its whole body, defaults included.
        """
        patch = self.request.method == "PATCH"
        payload = None if body is None else body.model_dump(mode="json", exclude_unset=patch)
        return await service.respond(
            self.session,
            api_key_id=api_key_id,
            key=self.key,
            method=self.request.method,
            path=self.request.url.path,
            payload=payload,
            run=run,
        )


async def _idempotent_write(
    request: Request, session: SessionDep, key: IdempotencyKeyHeader = None
) -> IdempotentWrite:
    return IdempotentWrite(request, session, key)


IdempotentWriteDep = Annotated[IdempotentWrite, Depends(_idempotent_write)]
