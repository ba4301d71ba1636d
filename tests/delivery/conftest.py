"""Outbox tests commit for real, so each gets a fresh migrated database of its backend, a clock
it can move, and workers built on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from app.db import Database
from app.delivery.worker import OutboxWorker
from app.outbox_handlers import outbox_worker
from tests.databases import BACKENDS, DatabaseUnderTest, FreshDatabases, make_settings
from tests.delivery.outbox_helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
async def fresh(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[DatabaseUnderTest]:
    """A migrated database of its own: these tests commit, and workers see every commit."""
    under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    yield under_test
    await cleanup()


@pytest.fixture
def db(fresh: DatabaseUnderTest) -> Database:
    return Database(fresh.engine, owns_engine=False)


@pytest.fixture
def make_worker(
    fresh: DatabaseUnderTest, db: Database, tmp_path: Path, clock: Clock
) -> Callable[..., OutboxWorker]:
    """`make_worker(settings overrides…, handlers=…, worker options…)`."""
    settings_fields = {"smtp_host", "smtp_port", "smtp_security", "smtp_username"}
    settings_fields |= {"smtp_password", "mail_from", "outbox_in_process"}

    def build(**options: Any) -> OutboxWorker:
        overrides = {key: options.pop(key) for key in list(options) if key in settings_fields}
        settings = make_settings(tmp_path, fresh.settings.effective_database_url, **overrides)
        options.setdefault("clock", clock)
        database = options.pop("database", db)
        return outbox_worker(database, settings, **options)

    return build
