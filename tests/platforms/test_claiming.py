"""Several workers poll the same database: a due connection is claimed, read and logged by
exactly one of them (the conditional UPDATE of `next_poll_at`), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.connections.models import ConnectionEvent
from app.db import Database, create_engine
from app.platforms.poller import PlatformPoller
from tests.databases import BACKENDS, FreshDatabases, make_settings
from tests.factories import add_handle
from tests.platforms.contract_servers import YouTubeState
from tests.platforms.platform_helpers import DayClock, ServedContract, add_platform


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_pollers_claim_a_due_connection_once(
    backend: str,
    tmp_path: Path,
    fresh_databases: FreshDatabases,
    youtube: ServedContract[YouTubeState],
) -> None:
    under_test, cleanup = await fresh_databases.open(backend, tmp_path)
    settings = make_settings(
        tmp_path,
        under_test.settings.effective_database_url,
        provider_api_urls={"youtube": youtube.url},
    )
    workers = [Database(create_engine(settings)) for _ in range(2)]
    try:
        youtube.state.videos = {"v1": 3}
        async with workers[0].session() as session:
            handle = await add_handle(session, "anna")
            await session.commit()
            await add_platform(session, "youtube", handle.id)
        clock = DayClock()
        pollers = [PlatformPoller(database, settings, clock=clock) for database in workers]

        results = await asyncio.gather(*(poller.run_once() for poller in pollers))

        assert sorted(len(result) for result in results) == [0, 1]
        assert len(youtube.state.calls("/channels")) == 1
        async with workers[1].session(write=False) as session:
            assert await session.scalar(select(func.count()).select_from(ConnectionEvent)) == 1
        again = await asyncio.gather(*(poller.run_once() for poller in pollers))
        assert again == [[], []]  # scheduled for tomorrow by the one that read it
    finally:
        for database in workers:
            await database.dispose()
        await cleanup()
