"""The gate in front of `/api/v1` requests that carry a body: size first, key second, body last.

FastAPI reads (and parses) a route's body before it solves the route's dependencies, so the
Bearer dependency alone would let anyone make the server read a body of any size before the 401.
Here, before FastAPI sees such a request:

1. an announced `Content-Length` over `max_api_body_bytes` is a 413 at once;
2. a missing, unknown or revoked key is the same 401 as the dependency's, at once;
3. a body sent without a length (chunked) is counted as it arrives and is a 413 past the limit
   (Starlette's body limit, which a route may raise with its own `max_body_size`).

Both early answers close the connection, so the unread body is not drained. Requests without
a body pass untouched: the dependency authenticates them, with one query instead of two.
"""

from __future__ import annotations

from starlette.datastructures import Headers, State
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api_keys import service as api_keys
from app.config import Settings
from app.db import Database
from app.errors import PayloadTooLarge, Unauthorized, error_response

__all__ = ["API_PREFIX", "ApiBodyGate"]

API_PREFIX = "/api/v1/"
BEARER = "bearer "


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def _announced_length(headers: Headers) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    return value[len(BEARER) :].strip() if value[: len(BEARER)].lower() == BEARER else None


class ApiBodyGate:
    """Answers 413 or 401 to an API request with a body before any of that body is read."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    @property
    def _limit(self) -> int:
        settings: Settings = self.state.settings
        return settings.max_api_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(headers)
        if refusal is not None:
            response = await error_response(Request(scope, receive), refusal)
            response.headers["Connection"] = "close"  # the body stays unread
            await response(scope, receive, send)
            return
        await RequestBodyLimitMiddleware(self.app, max_body_size=self._limit)(scope, receive, send)

    async def _refusal(self, headers: Headers) -> Exception | None:
        announced = _announced_length(headers)
        if announced is not None and announced > self._limit:
            return PayloadTooLarge(f"The request body is larger than {self._limit} bytes.")
        secret = _bearer(headers)
        if secret is None:
            return Unauthorized("Send an API key: `Authorization: Bearer ll_…`.")
        database: Database = self.state.database
        async with database.session(write=False) as session:
            key = await api_keys.find_active_key(session, secret)
        if key is None:
            return Unauthorized("This API key is not valid (malformed, unknown or revoked).")
        return None
