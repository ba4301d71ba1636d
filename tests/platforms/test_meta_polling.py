"""Instagram and Facebook Pages in the daily poller, against the Graph API stand-in: their
numbers per day reach the report as the platform gives them, the Instagram token's refresh
clock is stored encrypted, and an expired token asks for a reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.connections.crypto import cipher_for
from app.db import Database
from app.platforms.poller import PlatformPoller
from tests.connection_helpers import fresh, shown_error
from tests.databases import TEST_SECRET
from tests.factories import World
from tests.platforms.contract_servers import YouTubeState
from tests.platforms.graph_contract import GraphContract, serving
from tests.platforms.platform_helpers import DayClock, ServedContract, add_platform, metrics

TOKEN = "IGQVJ-long-lived-" + "t" * 20


@pytest.fixture
async def graph(clock: DayClock) -> AsyncIterator[GraphContract]:
    yesterday = clock.today - timedelta(days=1)
    contract = GraphContract(
        token=TOKEN,
        ig_days={yesterday: {"likes": 95, "comments": 4, "views": 3900}},
        ig_followers=5210,
        page_days={
            yesterday: {
                "page_actions_post_reactions_total": {"like": 40, "love": 2},
                "page_follows": 1500,
                "page_media_view": 800,
            }
        },
    )
    async with serving(contract):
        yield contract


@pytest.fixture
def meta_poller(
    connection: AsyncConnection, settings: Settings, clock: DayClock, graph: GraphContract
) -> PlatformPoller:
    urls = {**settings.provider_api_urls, "instagram": graph.url, "facebook": graph.url}
    configured = settings.model_copy(update={"provider_api_urls": urls})
    return PlatformPoller(Database(connection, owns_engine=False), configured, clock=clock)


async def test_instagram_and_facebook_numbers_per_day_reach_the_report(
    session: AsyncSession,
    world: World,
    graph: GraphContract,
    meta_poller: PlatformPoller,
    clock: DayClock,
) -> None:
    instagram = await add_platform(
        session,
        "instagram",
        world.anna.id,
        {"instagram_access_token": TOKEN, "instagram_user_id": graph.ig_user_id},
    )
    await add_platform(
        session,
        "facebook",
        world.bob.id,
        {"facebook_access_token": TOKEN, "facebook_page_id": graph.page_id},
    )

    results = await meta_poller.run_once()

    assert [result.outcome for result in results] == ["fetched", "fetched"]
    yesterday = clock.today - timedelta(days=1)
    assert (await metrics(session, world.anna.id, "instagram"))[yesterday] == (95, None)
    assert (await metrics(session, world.anna.id, "instagram"))[clock.today] == (None, 5210)
    assert (await metrics(session, world.bob.id, "facebook"))[yesterday] == (42, 1500)
    stored = await fresh(session, instagram.id)
    assert stored.secrets is not None
    secrets = cipher_for(TEST_SECRET).decrypt(stored.secrets)
    assert secrets["refreshed_on"] == clock.today.isoformat()  # the refresh clock started
    assert stored.next_poll_at is not None
    assert stored.next_poll_at > clock.now


async def test_an_expired_page_token_asks_for_a_reconnect(
    session: AsyncSession,
    world: World,
    graph: GraphContract,
    meta_poller: PlatformPoller,
    youtube: ServedContract[YouTubeState],
) -> None:
    connection = await add_platform(
        session,
        "facebook",
        world.anna.id,
        {"facebook_access_token": "EAAG-expired-long-ago", "facebook_page_id": graph.page_id},
    )

    await meta_poller.run_once()

    stored = await fresh(session, connection.id)
    assert (stored.status, stored.next_poll_at) == ("needs_reconnect", None)
    assert "Reconnect" in shown_error(stored)
    assert youtube.state.requests == []  # only the due connection's platform was called
