"""`/api/v1` bodies: over the limit is a 413 and a request without a valid key a 401, both
before the body is read (issue 14, finding 1). The served process is proven over raw sockets in
tests/test_request_limits.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from tests.factories import World, bearer

WEBHOOKS = "/api/v1/webhooks"
LIMIT = Settings().max_api_body_bytes


class WatchedBody:
    """A request body that notes whether the server asked for any of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read = True
        sent = 0
        while sent < self.size:
            chunk = b" " * min(64 * 1024, self.size - sent)
            sent += len(chunk)
            yield chunk


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer ll_" + "x" * 43}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-key", "unknown-key", "basic"],
)
async def test_a_body_without_a_valid_key_is_refused_unread(
    client: httpx.AsyncClient, world: World, headers: dict[str, str]
) -> None:
    body = WatchedBody(LIMIT // 2)
    response = await client.post(
        WEBHOOKS,
        content=body,
        headers={**headers, "Content-Type": "application/json", "Content-Length": str(body.size)},
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["connection"] == "close"
    assert body.read is False


async def test_an_announced_body_over_the_limit_is_a_413_unread(
    client: httpx.AsyncClient, world: World
) -> None:
    body = WatchedBody(LIMIT + 1)
    response = await client.post(
        WEBHOOKS,
        content=body,
        headers={
            **bearer(world.keys["admin"]),
            "Content-Type": "application/json",
            "Content-Length": str(body.size),
        },
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body.read is False


async def test_a_chunked_body_over_the_limit_is_a_413(
    client: httpx.AsyncClient, world: World
) -> None:
    body = WatchedBody(LIMIT + 64 * 1024)
    response = await client.post(
        WEBHOOKS,
        content=body,  # no length: sent chunked, counted as it arrives
        headers={**bearer(world.keys["admin"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text


async def test_a_body_within_the_limit_with_a_valid_key_is_read(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        WEBHOOKS,
        json={"url": "not a url", "events": ["lead.created"], "padding": "x" * (LIMIT // 2)},
        headers=bearer(world.keys["admin"]),
    )
    assert response.status_code == 422, response.text
