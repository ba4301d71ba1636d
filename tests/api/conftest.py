"""Fixtures of the REST API tests: a world of two handles and keys of every kind, and an app on a
fresh database (real commits) for the concurrency tests. The builders are in tests/factories.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from tests.apps import build_app
from tests.databases import DatabaseUnderTest, FreshApp, FreshDatabases, make_settings
from tests.factories import World, build_world


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)


@pytest.fixture
def fresh_app(fresh_databases: FreshDatabases) -> FreshApp:
    """`async with fresh_app(backend, tmp_path, **settings) as (client, under_test, database)`:
    the app on a brand-new database of its own, where every request commits for real."""

    @asynccontextmanager
    async def build(
        backend: str, tmp_path: Path, **overrides: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, DatabaseUnderTest, Database]]:
        under_test, cleanup = await fresh_databases.open(backend, tmp_path)
        settings = make_settings(tmp_path, under_test.settings.effective_database_url, **overrides)
        database = Database(under_test.engine, owns_engine=False)
        application = build_app(settings, database=database)
        try:
            async with application.router.lifespan_context(application):
                transport = httpx.ASGITransport(app=application)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    yield client, under_test, database
        finally:
            await cleanup()

    return build
