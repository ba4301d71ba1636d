"""`/admin/connections` for YouTube and TikTok: the owner pastes the tokens (never shown again),
ticks exactly one handle, reads what was fetched and the state of the connection on its page,
pastes new tokens after a refusal, and asks for a fetch now."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection
from app.db import utcnow
from app.platforms.poller import PlatformPoller
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.connection_helpers import fresh
from tests.platforms.contract_servers import API_KEY, CHANNEL_ID, YouTubeState
from tests.platforms.platform_helpers import TIKTOK_FORM, YOUTUBE_FORM, DayClock, ServedContract


async def _create(client: httpx.AsyncClient, **form: str | list[str]) -> httpx.Response:
    token = csrf_from((await client.get("/admin/connections/new")).text)
    return await client.post("/admin/connections", data={"csrf_token": token, **form})


async def _connections(session: AsyncSession) -> list[Connection]:
    session.expire_all()
    return list(await session.scalars(select(Connection).order_by(Connection.id)))


@pytest.mark.usefixtures("world", "owner")
async def test_youtube_is_connected_for_one_handle_and_its_key_is_never_shown_again(
    client: httpx.AsyncClient,
    session: AsyncSession,
    poller: PlatformPoller,
    youtube: ServedContract[YouTubeState],
) -> None:
    await sign_in(client)
    form = await client.get("/admin/connections/new")
    assert 'value="youtube"' in form.text
    assert 'value="tiktok"' in form.text
    assert "user.info.stats" in form.text  # the scopes TikTok's app needs
    youtube.state.videos = {"v1": 10}

    created = await _create(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)

    assert created.status_code == 303, created.text
    (connection,) = await _connections(session)
    assert (connection.status, connection.settings) == ("active", {"channel_id": CHANNEL_ID})
    assert connection.next_poll_at is not None
    assert connection.next_poll_at <= utcnow()  # the first fetch is due at once
    await poller.run_once()
    page = await client.get(created.headers["location"])
    assert page.status_code == 200
    assert_only_static_scripts(page.text)
    assert API_KEY not in page.text
    assert "…" + API_KEY[-4:] in page.text
    assert "Fetch now" in page.text
    assert "Likes and followers in the report (@anna)" in page.text
    assert "1,000" in page.text  # followers of the first day; its likes unknown
    assert "unknown" in page.text
    assert "Webhook URL" not in page.text
    assert '<span class="badge ok">fetched</span>' in page.text


@pytest.mark.usefixtures("world", "owner")
async def test_a_platform_needs_exactly_one_handle_and_well_formed_tokens(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client)

    none_ticked = await _create(client, provider="tiktok", **TIKTOK_FORM)
    two_ticked = await _create(client, provider="tiktok", handles=["anna", "bob"], **TIKTOK_FORM)
    bad_channel = await _create(
        client,
        provider="youtube",
        handles=["anna"],
        **{**YOUTUBE_FORM, "youtube_channel_id": "anna"},
    )
    no_secret = await _create(
        client, provider="tiktok", handles=["anna"], **{**TIKTOK_FORM, "tiktok_client_secret": ""}
    )

    for response in (none_ticked, two_ticked):
        assert response.status_code == 422
        assert "A TikTok connection is for exactly one handle" in response.text
    assert bad_channel.status_code == 422
    assert "A channel id is UC followed by 22" in bad_channel.text
    assert no_secret.status_code == 422
    assert "Paste the client secret." in no_secret.text
    assert TIKTOK_FORM["tiktok_refresh_token"] not in no_secret.text  # secrets are not echoed
    assert await _connections(session) == []


@pytest.mark.usefixtures("world", "owner")
async def test_a_refused_key_shows_reconnect_until_a_new_key_is_pasted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    poller: PlatformPoller,
    clock: DayClock,
    youtube: ServedContract[YouTubeState],
) -> None:
    await sign_in(client)
    youtube.state.api_key = "AIzaSy-a-new-key-the-owner-made-" + "x" * 8
    created = await _create(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)
    await poller.run_once()

    page = await client.get(created.headers["location"])
    assert "<strong>Reconnect: paste a new token.</strong>" in page.text
    assert '<span class="badge warn">reconnect</span>' in page.text
    assert "refused the API key" in page.text
    assert "after a new token is saved" in page.text
    fetch = await client.post(
        created.headers["location"] + "/fetch", data={"csrf_token": csrf_from(page.text)}
    )
    assert fetch.status_code == 422
    assert "Paste a new token first" in fetch.text

    saved = await client.post(
        created.headers["location"] + "/credentials",
        data={"csrf_token": csrf_from(page.text), "youtube_api_key": youtube.state.api_key},
    )
    assert saved.status_code == 303
    (connection,) = await _connections(session)
    assert (connection.status, connection.last_error) == ("active", None)
    (result,) = await poller.run_once()
    assert result.outcome == "fetched"
    page = await client.get(created.headers["location"])
    assert "<strong>Reconnect: paste a new token.</strong>" not in page.text
    assert '<span class="badge ok">active</span>' in page.text


@pytest.mark.usefixtures("world", "owner")
async def test_fetch_now_makes_the_connection_due_at_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    poller: PlatformPoller,
    youtube: ServedContract[YouTubeState],
) -> None:
    await sign_in(client)
    created = await _create(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)
    await poller.run_once()
    assert await poller.run_once() == []  # fetched for today
    page = await client.get(created.headers["location"])

    fetched = await client.post(
        created.headers["location"] + "/fetch", data={"csrf_token": csrf_from(page.text)}
    )

    assert fetched.status_code == 303
    assert [result.outcome for result in await poller.run_once()] == ["fetched"]
    (connection,) = await _connections(session)
    assert len(youtube.state.calls("/channels")) == 2
    assert (await fresh(session, connection.id)).status == "active"


@pytest.mark.usefixtures("world", "owner")
async def test_a_shop_has_no_fetch_or_tokens(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client)
    created = await _create(client, provider="stripe", handles=["anna"])
    page = await client.get(created.headers["location"])
    token = csrf_from(page.text)

    fetch = await client.post(created.headers["location"] + "/fetch", data={"csrf_token": token})
    tokens = await client.post(
        created.headers["location"] + "/credentials", data={"csrf_token": token}
    )

    assert (fetch.status_code, tokens.status_code) == (404, 404)
    assert "Fetch now" not in page.text


@pytest.mark.usefixtures("world", "owner")
async def test_a_platform_takes_no_signing_secret(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client)
    created = await _create(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)
    page = await client.get(created.headers["location"])

    secret = await client.post(
        created.headers["location"] + "/secret",
        data={"csrf_token": csrf_from(page.text), "secret": "whsec_" + "x" * 20},
    )

    assert secret.status_code == 404
    (connection,) = await _connections(session)
    assert connection.secret_hint == "…" + API_KEY[-4:]


@pytest.mark.usefixtures("world", "owner")
async def test_instagram_and_facebook_ask_for_a_token_and_a_numeric_id(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client)
    token = "IGQVJ-" + "t" * 30

    wrong = await _create(
        client,
        provider="instagram",
        handles=["anna"],
        instagram_access_token=token,
        instagram_user_id="@anna",
    )
    created = await _create(
        client,
        provider="facebook",
        handles=["bob"],
        facebook_access_token=token,
        facebook_page_id="104000000000001",
    )

    assert wrong.status_code == 422
    assert "The account id is digits only." in wrong.text
    assert token not in wrong.text
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert "Page id" in page.text
    assert "New Page access token" in page.text
    assert token not in page.text
    (connection,) = await _connections(session)
    assert connection.settings == {"page_id": "104000000000001"}


@pytest.mark.usefixtures("world", "owner")
async def test_a_disabled_platform_is_not_fetched_until_enabled(
    client: httpx.AsyncClient, session: AsyncSession, poller: PlatformPoller, clock: DayClock
) -> None:
    await sign_in(client)
    created = await _create(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)
    await poller.run_once()
    page = await client.get(created.headers["location"])
    token = csrf_from(page.text)

    await client.post(created.headers["location"] + "/disable", data={"csrf_token": token})
    clock.advance(days=2)
    assert await poller.run_once() == []
    page = await client.get(created.headers["location"])
    assert "none while disabled" in page.text
    await client.post(created.headers["location"] + "/enable", data={"csrf_token": token})

    assert [result.outcome for result in await poller.run_once()] == ["fetched"]
