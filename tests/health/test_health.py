"""Liveness and readiness as an orchestrator sees them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.main import create_app
from tests.databases import make_settings


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
