"""Idempotent writes: the first response to an `Idempotency-Key` is stored with the write itself
and replayed for 24 hours.

The key row is inserted first, in the transaction of the write, under a unique (api key, key)
constraint. A second request with the same key therefore waits for the first one's transaction
(PostgreSQL blocks on the unique index, SQLite has one writer at a time) and then replays the
committed response; if the first one failed, nothing was stored and the second one runs. Only
successful responses are stored: an error rolls the key back with everything else.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.idempotency.exceptions import HEADER, IdempotencyKeyInFlight, IdempotencyKeyInvalid
from app.idempotency.models import IdempotencyKey

__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "TTL",
    "ApiResult",
    "forget_lead",
    "request_fingerprint",
    "respond",
]

REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
KEY_PATTERN = re.compile(r"[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?")
# Headers worth replaying; others (dates, lengths) are set afresh.
STORED_HEADERS = ("location", "link")


@dataclass(slots=True)
class ApiResult:
    """What a write answered: status, JSON body (or none) and headers.

    `replay_body` is what a replay shows instead of `body` (a new API key's secret is shown
    once, so it is never stored); `lead_id` names the lead whose data the body holds.
    """

    status_code: int
    body: BaseModel | None = None
    headers: dict[str, str] = field(default_factory=dict)
    lead_id: int | None = None
    replay_body: BaseModel | None = None


def _json(body: BaseModel | None) -> bytes:
    return body.model_dump_json().encode("utf-8") if body is not None else b""


def _response(status_code: int, content: bytes, headers: Mapping[str, str]) -> Response:
    if not content:
        return Response(status_code=status_code, headers=dict(headers))
    return Response(content, status_code, headers=dict(headers), media_type="application/json")


def request_fingerprint(method: str, path: str, payload: Any) -> str:
    """A hash of what the request asks for; JSON key order and spacing do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _claim(
    session: AsyncSession, *, api_key_id: int, key: str, method: str, path: str, fingerprint: str
) -> IdempotencyKey | None:
    """Insert the key (None), or return the row an earlier request stored under it."""
    now = utcnow()
    await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.created_at < now - TTL)
        .execution_options(synchronize_session=False)
    )
    for _attempt in range(2):
        inserted = await session.scalar(
            _insert(session)(IdempotencyKey)
            .values(
                api_key_id=api_key_id,
                key=key,
                method=method,
                path=path,
                request_hash=fingerprint,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["api_key_id", "key"])
            .returning(IdempotencyKey.id)
        )
        if inserted is not None:
            return None
        existing = await session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        if existing is not None:
            return existing
        # The first request rolled back between our insert and select: try once more.
    raise IdempotencyKeyInFlight


async def respond(
    session: AsyncSession,
    *,
    api_key_id: int,
    key: str | None,
    method: str,
    path: str,
    payload: Any,
    run: Callable[[], Awaitable[ApiResult]],
) -> Response:
    """Run a write once per `Idempotency-Key` and answer with its (stored) response.

    Without a key, `run` simply runs. With a key seen in the last 24 hours: the same request
    gets the first response again (marked `Idempotent-Replayed: true`); a different method,
    path or body is a 422 naming the header.
    """
    if key is None:
        result = await run()
        return _response(result.status_code, _json(result.body), result.headers)
    if not KEY_PATTERN.fullmatch(key):
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1 to 255 printable ASCII characters.")
    fingerprint = request_fingerprint(method, path, payload)
    existing = await _claim(
        session, api_key_id=api_key_id, key=key, method=method, path=path, fingerprint=fingerprint
    )
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyInvalid(
                f"This {HEADER} was already used for a different request; use a new key."
            )
        if existing.status_code is None:
            raise IdempotencyKeyInFlight
        headers = {**(existing.response_headers or {}), REPLAYED_HEADER: "true"}
        return _response(
            existing.status_code, (existing.response_body or "").encode("utf-8"), headers
        )

    result = await run()
    content = _json(result.body)
    stored = _json(result.replay_body) if result.replay_body is not None else content
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
        .values(
            status_code=result.status_code,
            response_body=stored.decode("utf-8"),
            response_headers={
                name: value
                for name, value in result.headers.items()
                if name.lower() in STORED_HEADERS
            },
            lead_id=result.lead_id,
        )
        .execution_options(synchronize_session=False)
    )
    return _response(result.status_code, content, result.headers)


async def forget_lead(session: AsyncSession, lead_id: int) -> int:
    """Delete stored responses that hold a lead's data (erasure)."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.lead_id == lead_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
