"""YouTube, fetched daily against the local contract server of the Data API v3: the report's
likes are each day's growth per video (first day unknown, missed day split, deleted video
lowering nothing, a re-read of the day changing nothing), and every documented failure is
shown on the connection and retried as it says."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.db import Database
from app.observability import configure_logging
from app.platforms import setup
from app.platforms.poller import PlatformPoller
from tests.connection_helpers import events, fresh, shown_error
from tests.factories import World
from tests.platforms.contract_servers import QUOTA_EXCEEDED, UPLOADS, YouTubeState
from tests.platforms.platform_helpers import (
    DayClock,
    ServedContract,
    add_platform,
    metrics,
    snapshots,
)
from tests.servers import free_port

YouTube = ServedContract[YouTubeState]


async def test_first_day_knows_followers_and_the_next_day_counts_the_likes_gained(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.followers = 1000
    youtube.state.videos = {"v2": 50, "v1": 200}
    connection = await add_platform(session, "youtube", world.anna.id)
    day1 = clock.today

    (result,) = await poller.run_once()

    assert result.outcome == "fetched"
    assert await metrics(session, world.anna.id, "youtube") == {day1: (None, 1000)}
    stored = await fresh(session, connection.id)
    assert stored.status == "active"
    assert stored.last_polled_at == clock.now
    # Next: tomorrow shortly after midnight (the report's zone is UTC here).
    assert stored.next_poll_at is not None
    assert clock.now + timedelta(hours=12) <= stored.next_poll_at
    assert stored.next_poll_at <= clock.now + timedelta(hours=12, minutes=45)
    assert await poller.run_once() == []  # not due again today

    youtube.state.followers = 1010
    youtube.state.videos = {"v3": 7, "v2": 60, "v1": 203}  # a new video, two that grew
    clock.advance(days=1)
    (result,) = await poller.run_once()

    assert await metrics(session, world.anna.id, "youtube") == {
        day1: (None, 1000),
        day1 + timedelta(days=1): (7 + 10 + 3, 1010),
    }
    assert "likes +20" in result.detail
    (log_first, log_second) = await events(session, connection.id)
    assert log_first.outcome == log_second.outcome == "fetched"
    assert log_second.provider_event_id.startswith(f"poll:{day1 + timedelta(days=1)}:")


async def test_a_deleted_video_and_a_video_that_lost_likes_lower_nothing(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.videos = {"v2": 50, "v1": 200}
    await add_platform(session, "youtube", world.anna.id)
    await poller.run_once()

    youtube.state.videos = {"v2": 45}  # v1 (200 likes) deleted, v2 lost 5 likes
    clock.advance(days=1)
    await poller.run_once()
    youtube.state.videos = {"v2": 49}  # v2 regains 4
    clock.advance(days=1)
    await poller.run_once()

    days = await metrics(session, world.anna.id, "youtube")
    assert [likes for likes, _followers in days.values()] == [None, 0, 4]


async def test_a_missed_day_shares_the_likes_evenly_with_the_remainder_on_the_last_day(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.videos = {"v1": 100}
    youtube.state.followers = 500
    await add_platform(session, "youtube", world.anna.id)
    await poller.run_once()
    day1 = clock.today

    youtube.state.videos = {"v1": 111}
    youtube.state.followers = 530
    clock.advance(days=3)  # the worker was down for two nights
    await poller.run_once()

    assert await metrics(session, world.anna.id, "youtube") == {
        day1: (None, 500),
        day1 + timedelta(days=1): (3, None),
        day1 + timedelta(days=2): (3, None),
        day1 + timedelta(days=3): (5, 530),
    }


async def test_reading_the_same_day_again_replaces_it_and_counts_nothing_twice(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.videos = {"v1": 100}
    connection = await add_platform(session, "youtube", world.anna.id)
    await poller.run_once()
    youtube.state.videos = {"v1": 110}
    clock.advance(days=1)
    await poller.run_once()
    day2 = clock.today

    for likes in (110, 115):  # the same reading again, then a later one the same day
        youtube.state.videos = {"v1": likes}
        await _fetch_now(session, connection.id)
        clock.advance(minutes=30)
        await poller.run_once()
        assert (await metrics(session, world.anna.id, "youtube"))[day2][0] == likes - 100

    assert [s.day for s in await snapshots(session, connection.id)] == [day2 - timedelta(1), day2]
    older, newest = await snapshots(session, connection.id)
    assert older.likes_by_item is None  # only the newest keeps per-video counts
    assert newest.likes_by_item == {"v1": 115}


async def test_every_video_is_read_page_by_page(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.videos = {f"v{n:03}": 1 for n in range(120)}
    await add_platform(session, "youtube", world.anna.id)
    await poller.run_once()
    youtube.state.videos = {f"v{n:03}": 2 for n in range(120)}
    clock.advance(days=1)
    await poller.run_once()

    assert (await metrics(session, world.anna.id, "youtube"))[clock.today][0] == 120
    pages = youtube.state.calls("/playlistItems")
    assert [page.get("pageToken") for page in pages[:3]] == [None, "page-50", "page-100"]
    assert {page["playlistId"] for page in pages} == {UPLOADS}
    assert {page["maxResults"] for page in pages} == {"50"}
    batches = youtube.state.calls("/videos")
    assert [len(batch["id"].split(",")) for batch in batches[:3]] == [50, 50, 20]


async def test_a_refused_key_asks_for_a_reconnect_and_stops_polling(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.api_key = "AIzaSy-rotated-in-the-console"
    connection = await add_platform(session, "youtube", world.anna.id)

    (result,) = await poller.run_once()

    stored = await fresh(session, connection.id)
    assert (stored.status, stored.next_poll_at) == ("needs_reconnect", None)
    error = shown_error(stored)
    assert "refused the API key" in error
    assert "Reconnect" in error
    assert result.outcome == "failed"
    clock.advance(days=2)
    assert await poller.run_once() == []  # no polls until a new key is pasted
    assert len(youtube.state.calls("/channels")) == 1


async def test_a_spent_daily_quota_waits_for_its_reset_at_midnight_pacific_time(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.videos = {"v1": 1}
    youtube.state.fail_next(403, QUOTA_EXCEEDED, path="/channels")
    connection = await add_platform(session, "youtube", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "error"
    assert "quota" in shown_error(stored)
    assert stored.next_poll_at is not None
    reset_in_utc = stored.next_poll_at.astimezone(UTC)
    assert reset_in_utc.minute == 10  # 00:10 Pacific time (08:10 or 07:10 UTC)
    assert reset_in_utc.hour in (7, 8)
    assert clock.now < reset_in_utc <= clock.now + timedelta(days=1)
    clock.now = reset_in_utc
    (result,) = await poller.run_once()
    assert result.outcome == "fetched"
    assert (await fresh(session, connection.id)).status == "active"


async def test_a_429_is_retried_after_its_retry_after(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.fail_next(
        429, {"error": {"code": 429}}, path="/channels", **{"Retry-After": "120"}
    )
    connection = await add_platform(session, "youtube", world.anna.id)

    await poller.run_once()

    assert (await fresh(session, connection.id)).next_poll_at == clock.now + timedelta(seconds=120)
    clock.advance(seconds=119)
    assert await poller.run_once() == []
    clock.advance(seconds=1)
    assert [r.outcome for r in await poller.run_once()] == ["fetched"]


async def test_a_provider_down_backs_off_doubling_then_a_success_clears_the_error(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    for _ in range(2):
        youtube.state.fail_next(503, b"Service Unavailable", path="/channels")
    connection = await add_platform(session, "youtube", world.anna.id)

    waits = []
    for _ in range(2):
        await poller.run_once()
        stored = await fresh(session, connection.id)
        assert stored.status == "error"
        assert stored.next_poll_at is not None
        waits.append(stored.next_poll_at - clock.now)
        clock.now = stored.next_poll_at
    (result,) = await poller.run_once()

    assert waits == [timedelta(minutes=5), timedelta(minutes=10)]
    assert result.outcome == "fetched"
    stored = await fresh(session, connection.id)
    assert (stored.status, stored.last_error, stored.poll_failures) == ("active", None, 0)
    assert [event.outcome for event in await events(session, connection.id)] == [
        "failed",
        "failed",
        "fetched",
    ]


async def test_a_malformed_answer_is_shown_and_retried(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller, clock: DayClock
) -> None:
    youtube.state.fail_next(200, b"<html>captive portal</html>", path="/playlistItems")
    connection = await add_platform(session, "youtube", world.anna.id)

    (result,) = await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "error"
    assert "not JSON" in shown_error(stored)
    assert result.next_poll_at == clock.now + timedelta(minutes=5)
    assert await metrics(session, world.anna.id, "youtube") == {}


async def test_an_unknown_channel_id_says_so(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller
) -> None:
    youtube.state.channel_id = "UC" + "z" * 22
    connection = await add_platform(session, "youtube", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "error"
    assert "no channel with the id" in shown_error(stored)


async def _fetch_now(session: AsyncSession, connection_id: int) -> None:
    connection = await fresh(session, connection_id)
    await setup.fetch_now(session, connection)
    await session.commit()


async def test_an_answer_with_wrong_types_is_an_error_on_the_page_never_a_crash(
    session: AsyncSession, world: World, youtube: YouTube, poller: PlatformPoller
) -> None:
    youtube.state.fail_next(
        200, {"items": [{"statistics": "many", "contentDetails": []}]}, path="/channels"
    )
    connection = await add_platform(session, "youtube", world.anna.id)

    (result,) = await poller.run_once()

    stored = await fresh(session, connection.id)
    assert (result.outcome, stored.status) == ("failed", "error")
    assert stored.last_error is not None
    assert stored.next_poll_at is not None


async def test_an_unreachable_api_is_retried_with_back_off(
    session: AsyncSession,
    world: World,
    connection: AsyncConnection,
    settings: Settings,
    clock: DayClock,
) -> None:
    nowhere = settings.model_copy(
        update={"provider_api_urls": {"youtube": f"http://127.0.0.1:{free_port()}"}}
    )
    poller = PlatformPoller(Database(connection, owns_engine=False), nowhere, clock=clock)
    added = await add_platform(session, "youtube", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, added.id)
    assert stored.status == "error"
    assert "could not be reached" in shown_error(stored)
    assert stored.next_poll_at == clock.now + timedelta(minutes=5)


def test_the_log_never_gets_the_request_urls_that_carry_the_api_key(settings: Settings) -> None:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    touched = [logging.getLogger(name) for name in ("httpx", "alembic.runtime.migration")]
    handlers, level, disabled = root.handlers[:], root.level, access.disabled
    levels = [logger.level for logger in touched]
    try:
        configure_logging(settings.model_copy(update={"log_level": "DEBUG"}))
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.disabled = disabled
        for logger, before in zip(touched, levels, strict=True):
            logger.setLevel(before)
