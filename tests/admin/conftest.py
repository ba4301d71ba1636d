"""Admin tests sign in with a cheap argon2 hasher: the real parameters cost ~0.2 s a hash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database
from app.users import service as users
from app.users.models import User
from tests.admin.admin_helpers import ClientFactory
from tests.apps import build_app
from tests.databases import DatabaseUnderTest, make_settings
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD, seed_handle


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "password_hasher", cheap)


@pytest.fixture
async def owner(session: AsyncSession) -> User:
    return await users.create_user(session, OWNER_EMAIL, OWNER_PASSWORD)


@pytest.fixture
async def handles(session: AsyncSession) -> None:
    """The handles anna and bob, committed (the likes upload tests store numbers on them)."""
    await seed_handle(session, "anna")
    await seed_handle(session, "bob")
    await session.commit()


@pytest.fixture
def make_client(
    database: DatabaseUnderTest, connection: AsyncConnection, tmp_path: Path
) -> ClientFactory:
    """A client of an app built with some settings changed (rate limits, base URL)."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(tmp_path, database.settings.effective_database_url, **overrides)
        app = build_app(settings, database=Database(connection, owns_engine=False))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            # Talk to the app at its own base URL, so that Secure cookies come back on https.
            base_url = str(overrides.get("base_url", "http://testserver"))
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
                yield c

    return build
