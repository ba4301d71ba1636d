"""Helpers of the platform tests: a clock that starts tomorrow at noon (UTC) and moves by days,
connections made by the service as the admin makes them, and what the report table holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.crypto import cipher_for
from app.connections.models import Connection
from app.db import utcnow
from app.platforms import setup
from app.platforms.models import PlatformSnapshot
from app.platforms.poller import PlatformPoller
from app.reports.models import SocialMetric
from tests.databases import TEST_SECRET
from tests.platforms.contract_servers import (
    API_KEY,
    CHANNEL_ID,
    CLIENT_KEY,
    CLIENT_SECRET,
    FIRST_REFRESH_TOKEN,
    ContractState,
    TikTokState,
    YouTubeState,
)

State = TypeVar("State", bound=ContractState)


@dataclass
class ServedContract(Generic[State]):
    state: State
    url: str


class DayClock:
    """Starts tomorrow at 12:00 UTC (later than anything the app scheduled with the real clock,
    so "due now" is due) and moves as the test says."""

    def __init__(self) -> None:
        tomorrow = utcnow().date() + timedelta(days=1)
        self.now = datetime.combine(tomorrow, time(12, 0), tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    @property
    def today(self) -> date:
        return self.now.date()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Platforms:
    """Both contract servers, the poller and its clock: the world of an end-to-end test."""

    youtube: ServedContract[YouTubeState]
    tiktok: ServedContract[TikTokState]
    poller: PlatformPoller
    clock: DayClock


YOUTUBE_FORM = {"youtube_api_key": API_KEY, "youtube_channel_id": CHANNEL_ID}
TIKTOK_FORM = {
    "tiktok_client_key": CLIENT_KEY,
    "tiktok_client_secret": CLIENT_SECRET,
    "tiktok_refresh_token": FIRST_REFRESH_TOKEN,
}


async def add_platform(
    session: AsyncSession, provider: str, handle_id: int, form: dict[str, str] | None = None
) -> Connection:
    """A platform connection as the admin creates it (committed), due now."""
    connection = await setup.create_platform_connection(
        session,
        provider=provider,
        label="test",
        handle_ids=frozenset({handle_id}),
        form=form or (YOUTUBE_FORM if provider == "youtube" else TIKTOK_FORM),
        created_by=None,
        cipher=cipher_for(TEST_SECRET),
    )
    await session.commit()
    # Detached with its values loaded: tests expire the session to read what polls wrote.
    session.expunge(connection)
    return connection


async def metrics(
    session: AsyncSession, handle_id: int, platform: str
) -> dict[date, tuple[int | None, int | None]]:
    """The report's days for a handle and platform: day → (likes, followers)."""
    session.expire_all()
    rows = await session.execute(
        select(SocialMetric.day, SocialMetric.likes, SocialMetric.followers)
        .where(SocialMetric.handle_id == handle_id, SocialMetric.platform == platform)
        .order_by(SocialMetric.day)
    )
    return {day: (likes, followers) for day, likes, followers in rows.all()}


async def snapshots(session: AsyncSession, connection_id: int) -> list[PlatformSnapshot]:
    session.expire_all()
    return list(
        await session.scalars(
            select(PlatformSnapshot)
            .where(PlatformSnapshot.connection_id == connection_id)
            .order_by(PlatformSnapshot.day)
        )
    )
