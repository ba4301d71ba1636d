"""TikTok, fetched daily against the local contract server of the Display API v2: each fetch
refreshes the 24-hour access token with the pasted refresh token and keeps the newest tokens
encrypted; videos are read with the documented cursor; refused tokens ask for a reconnect and
rate limits wait as told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.crypto import cipher_for
from app.platforms.poller import PlatformPoller
from tests.connection_helpers import fresh, shown_error
from tests.databases import TEST_SECRET
from tests.factories import World
from tests.platforms.contract_servers import (
    CLIENT_KEY,
    CLIENT_SECRET,
    FIRST_REFRESH_TOKEN,
    TikTokState,
    tiktok_error,
)
from tests.platforms.platform_helpers import DayClock, ServedContract, add_platform, metrics

TikTok = ServedContract[TikTokState]


async def test_likes_and_followers_are_read_with_a_refreshed_token_and_the_video_cursor(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller, clock: DayClock
) -> None:
    for number in range(45):
        tiktok.state.add_video(f"7{number:03}", 10)
    tiktok.state.followers = 2000
    await add_platform(session, "tiktok", world.anna.id)

    (first,) = await poller.run_once()
    for number in range(45):
        tiktok.state.videos[f"7{number:03}"] = 12
    tiktok.state.add_video("7999", 5)
    tiktok.state.followers = 2100
    clock.advance(days=1)
    (second,) = await poller.run_once()

    assert (first.outcome, second.outcome) == ("fetched", "fetched")
    assert await metrics(session, world.anna.id, "tiktok") == {
        clock.today - timedelta(days=1): (None, 2000),
        clock.today: (45 * 2 + 5, 2100),
    }
    pages = [call for method, path, call in tiktok.state.requests if path == "/v2/video/list/"]
    assert len(pages) == 3 + 3  # 45 videos, then 46: 20 a page
    assert {page["fields"] for page in pages} == {"id,like_count"}
    (user_call, *_) = tiktok.state.calls("/v2/user/info/")
    assert "follower_count" in user_call["fields"].split(",")


async def test_the_rotated_refresh_token_is_stored_encrypted_and_used_next_time(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller, clock: DayClock
) -> None:
    connection = await add_platform(session, "tiktok", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.secrets is not None
    secrets = cipher_for(TEST_SECRET).decrypt(stored.secrets)
    assert secrets["refresh_token"].startswith("rft.rotated-1-")
    assert secrets["access_token"].startswith("act.access-1-")
    assert (secrets["client_key"], secrets["client_secret"]) == (CLIENT_KEY, CLIENT_SECRET)
    raw = await session.scalar(
        text("SELECT secrets FROM connections WHERE id = :id"), {"id": connection.id}
    )
    assert "rft." not in str(raw)
    assert "act." not in str(raw)
    assert FIRST_REFRESH_TOKEN not in tiktok.state.refresh_tokens  # the server rotated it

    clock.advance(days=1)
    (result,) = await poller.run_once()
    assert result.outcome == "fetched"  # with the rotated token: the first one no longer works
    stored = await fresh(session, connection.id)
    assert stored.status == "active"
    assert stored.secrets is not None
    assert (
        cipher_for(TEST_SECRET)
        .decrypt(stored.secrets)["refresh_token"]
        .startswith("rft.rotated-2-")
    )


async def test_a_refused_refresh_token_asks_for_a_reconnect(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller, clock: DayClock
) -> None:
    tiktok.state.refresh_tokens.clear()  # revoked by the user, or past its 365 days
    connection = await add_platform(session, "tiktok", world.anna.id)

    (result,) = await poller.run_once()

    stored = await fresh(session, connection.id)
    assert (stored.status, stored.next_poll_at, result.outcome) == (
        "needs_reconnect",
        None,
        "failed",
    )
    assert "invalid_grant" in shown_error(stored)
    clock.advance(days=1)
    assert await poller.run_once() == []


async def test_a_refused_access_token_asks_for_a_reconnect_and_keeps_the_new_refresh_token(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller
) -> None:
    tiktok.state.fail_next(
        401,
        tiktok_error("access_token_invalid", "The access token is invalid or not found."),
        path="/v2/user/info/",
    )
    connection = await add_platform(session, "tiktok", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "needs_reconnect"
    assert "access_token_invalid" in shown_error(stored)
    assert stored.secrets is not None
    refreshed = cipher_for(TEST_SECRET).decrypt(stored.secrets)["refresh_token"]
    assert refreshed in tiktok.state.refresh_tokens  # not lost: the next connect can use it


async def test_a_429_with_retry_after_is_honoured(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller, clock: DayClock
) -> None:
    tiktok.state.fail_next(
        429,
        tiktok_error("rate_limit_exceeded", "The API rate limit was exceeded."),
        path="/v2/video/list/",
        **{"Retry-After": "30"},
    )
    connection = await add_platform(session, "tiktok", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "error"
    assert stored.next_poll_at == clock.now + timedelta(seconds=60)  # at least a minute
    clock.advance(seconds=60)
    assert [result.outcome for result in await poller.run_once()] == ["fetched"]


async def test_a_500_then_success(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller, clock: DayClock
) -> None:
    tiktok.state.fail_next(
        500, tiktok_error("internal_error", "Something went wrong."), path="/v2/user/info/"
    )
    tiktok.state.add_video("7001", 3)
    connection = await add_platform(session, "tiktok", world.anna.id)

    await poller.run_once()
    assert (await fresh(session, connection.id)).status == "error"
    clock.advance(minutes=5)
    (result,) = await poller.run_once()

    assert result.outcome == "fetched"
    assert (await fresh(session, connection.id)).status == "active"


async def test_a_body_that_is_not_the_documented_shape_is_shown(
    session: AsyncSession, world: World, tiktok: TikTok, poller: PlatformPoller
) -> None:
    tiktok.state.fail_next(200, {"videos": []}, path="/v2/video/list/")
    connection = await add_platform(session, "tiktok", world.anna.id)

    await poller.run_once()

    stored = await fresh(session, connection.id)
    assert stored.status == "error"
    assert "documented" in shown_error(stored)
