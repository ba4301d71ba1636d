"""Liveness and readiness as an orchestrator sees them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.main import create_app
from tests.databases import DatabaseUnderTest, make_settings


async def test_healthz_answers_without_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_at_the_head_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_503_when_the_schema_is_behind(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "older" in response.json()["status"]


async def test_unreachable_database_gives_503_quickly_not_a_hang(tmp_path: Path) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings = make_settings(
        tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/none", db_timeout_seconds=2.0
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            page = await client.get("/p/demo")
            api = await client.get("/p/demo", headers={"accept": "application/json"})
            elapsed = time.monotonic() - started
    assert ready.status_code == 503
    assert ready.json() == {"status": "database unreachable"}
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert page.headers["retry-after"] == "5"
    assert api.status_code == 503
    assert elapsed < 10


@asynccontextmanager
async def _metrics_client(
    tmp_path: Path, database: DatabaseUnderTest, peer: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, database.settings.effective_database_url, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_metrics_are_hidden_from_a_remote_peer_without_a_token(
    tmp_path: Path, database: DatabaseUnderTest
) -> None:
    async with _metrics_client(
        tmp_path, database, "203.0.113.9", trusted_proxies=["203.0.113.9"]
    ) as client:
        plain = await client.get("/metrics")
        # A forwarded address is no way in: only the socket peer counts.
        spoofed = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert plain.status_code == 404
    assert spoofed.status_code == 404
    assert "# TYPE" not in plain.text


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
async def test_a_local_prometheus_reads_metrics_without_a_token(
    tmp_path: Path, database: DatabaseUnderTest, peer: str
) -> None:
    async with _metrics_client(tmp_path, database, peer) as client:
        response = await client.get("/metrics")
        # A reverse proxy on the same machine connects from loopback too, but names its visitor.
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    assert proxied.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


async def test_with_a_token_metrics_want_it_from_everyone(
    tmp_path: Path, database: DatabaseUnderTest
) -> None:
    token = "metrics-" + "x" * 32
    async with _metrics_client(tmp_path, database, "203.0.113.9", metrics_token=token) as client:
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        missing = await client.get("/metrics")
    async with _metrics_client(tmp_path, database, "127.0.0.1", metrics_token=token) as local:
        local_without = await local.get("/metrics")
    assert right.status_code == 200
    assert "# TYPE" in right.text
    assert wrong.status_code == 401
    assert missing.status_code == 404
    assert local_without.status_code == 404
