"""Webhook test fixtures: a real receiver on a local port, the app with private targets allowed
(the receiver is on 127.0.0.1), a clock to move, workers with the short retry budget, and an
admin key. The receiver and helpers are in webhook_helpers.py, the builders in
tests/factories.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.delivery.worker import OutboxWorker
from app.outbox_handlers import outbox_worker
from tests.databases import DatabaseUnderTest, make_settings
from tests.delivery.outbox_helpers import Clock
from tests.factories import issue_key
from tests.webhooks.webhook_helpers import SHORT_POLICY, Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hooks/leadlink"
    async with server:
        yield receiver
        server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def allow_private() -> bool:
    """Tests parametrize this to False to see private targets refused."""
    return True


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path, allow_private: bool) -> Settings:
    return make_settings(
        tmp_path, database.settings.effective_database_url, webhook_allow_private=allow_private
    )


@pytest.fixture
def make_worker(clock: Clock) -> Callable[..., OutboxWorker]:
    """A worker on `database` with the short retry budget for webhooks and the test's clock."""

    def build(database: Database, settings: Settings, **options: Any) -> OutboxWorker:
        options.setdefault("policies", {"webhook": SHORT_POLICY})
        options.setdefault("clock", clock)
        return outbox_worker(database, settings, **options)

    return build


@pytest.fixture
async def admin_key(session: AsyncSession) -> str:
    secret = await issue_key(session, ["admin"])
    await session.commit()
    return secret
