"""Fixtures of the platform tests: YouTube's and TikTok's contract servers on local ports (the
app's LEADLINK_PROVIDER_API_URLS point at them), an HTTP client to hand a connector, a clock the
test moves by days, the world of two handles, and platform connections made as the admin makes
them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.db import Database
from app.platforms.poller import PlatformPoller
from app.users import service as users
from app.users.models import User
from tests.databases import DatabaseUnderTest, make_settings
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD, World, build_detached_world
from tests.platforms.contract_servers import (
    TikTokState,
    YouTubeState,
    served,
    tiktok_app,
    youtube_app,
)
from tests.platforms.platform_helpers import DayClock, Platforms, ServedContract


@pytest.fixture
def youtube() -> Iterator[ServedContract[YouTubeState]]:
    state = YouTubeState()
    with served(youtube_app(state)) as url:
        yield ServedContract(state, url)


@pytest.fixture
def tiktok() -> Iterator[ServedContract[TikTokState]]:
    state = TikTokState()
    with served(tiktok_app(state)) as url:
        yield ServedContract(state, url)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to hand a connector, as the poller does."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def settings(
    database: DatabaseUnderTest,
    tmp_path: Path,
    youtube: ServedContract[YouTubeState],
    tiktok: ServedContract[TikTokState],
) -> Settings:
    return make_settings(
        tmp_path,
        database.settings.effective_database_url,
        provider_api_urls={"youtube": youtube.url, "tiktok": tiktok.url},
    )


@pytest.fixture
def clock() -> DayClock:
    return DayClock()


@pytest.fixture
def poller(connection: AsyncConnection, settings: Settings, clock: DayClock) -> PlatformPoller:
    """The poller on the test's connection (its commits are savepoints), with the test's clock."""
    return PlatformPoller(Database(connection, owns_engine=False), settings, clock=clock)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_detached_world(session)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing in as the owner costs ~0.2 s a hash with the real parameters."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "password_hasher", cheap)


@pytest.fixture
async def owner(session: AsyncSession) -> User:
    """The admin (sees every handle), as `sign_in` signs in."""
    user = await users.create_user(session, OWNER_EMAIL, OWNER_PASSWORD)
    await session.commit()
    return user


@pytest.fixture
def platforms(
    youtube: ServedContract[YouTubeState],
    tiktok: ServedContract[TikTokState],
    poller: PlatformPoller,
    clock: DayClock,
) -> Platforms:
    return Platforms(youtube, tiktok, poller, clock)
