"""The issue's whole story, through HTTP as an owner: connect YouTube, TikTok, Stripe and
Mailchimp in the admin; visitors come through the one link from YouTube and TikTok, opt in and
confirm; the outbox worker sends them to Mailchimp with their platform; Stripe reports a sale
for one of them; the clock moves a day and the poller runs; the admin's report and the API's
conversion report show likes, leads and customers per platform, without any CSV."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections.models import Connection
from app.db import utcnow
from app.delivery.models import OutboxMessage
from app.handles.models import Handle
from app.leads.models import Lead
from app.outbox_handlers import outbox_worker
from app.signing import Signer
from tests.admin.admin_helpers import csrf_from, sign_in
from tests.databases import DatabaseUnderTest, make_settings
from tests.email_tools.contract_servers import Mailchimp, serving
from tests.email_tools.email_helpers import KEYS
from tests.factories import World, bearer
from tests.platforms.contract_servers import TikTokState, YouTubeState
from tests.platforms.platform_helpers import (
    TIKTOK_FORM,
    YOUTUBE_FORM,
    Platforms,
    ServedContract,
)
from tests.shop.shop_helpers import STRIPE_SECRET, checkout_event, post_stripe

TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')
CONFIRM_LINK = re.compile(r"/c/([A-Za-z0-9_.~-]+)")


@pytest.fixture
async def mailchimp() -> AsyncIterator[Mailchimp]:
    async with serving(Mailchimp(KEYS["mailchimp"])) as server:
        yield server


@pytest.fixture
def settings(
    database: DatabaseUnderTest,
    tmp_path: Path,
    youtube: ServedContract[YouTubeState],
    tiktok: ServedContract[TikTokState],
    mailchimp: Mailchimp,
) -> Settings:
    urls = {"youtube": youtube.url, "tiktok": tiktok.url, "mailchimp": mailchimp.url}
    return make_settings(tmp_path, database.settings.effective_database_url, provider_api_urls=urls)


async def _connect(client: httpx.AsyncClient, **form: str | list[str]) -> str:
    token = csrf_from((await client.get("/admin/connections/new")).text)
    created = await client.post("/admin/connections", data={"csrf_token": token, **form})
    assert created.status_code == 303, created.text
    return str(created.headers["location"])


async def _opt_in_from(client: httpx.AsyncClient, app: Any, source: str, email: str) -> None:
    """A visitor follows the one link posted on `source` and signs up."""
    page = await client.get(f"/@anna/{source}", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    assert page.status_code == 200
    found = TOKEN_FIELD.search(page.text)
    assert found is not None
    signer: Signer = app.state.one_link.signer
    values, _issued = signer.unsign_fields(found.group(1))
    token = signer.sign_fields(values, now=time.time() - 5)  # as if read for 5 s
    action = re.search(r'<form[^>]+action="(/p/[^"]+)"', page.text)
    assert action is not None
    signed_up = await client.post(
        action.group(1),
        data={"a": token, "email": email, "name": "Fan", "consent": "yes", "website": ""},
    )
    assert signed_up.status_code == 303, signed_up.text


async def _confirm(client: httpx.AsyncClient, session: AsyncSession, email: str) -> None:
    """The visitor follows the link of the confirmation email leadlink queued for them."""
    session.expire_all()
    lead_id = await session.scalar(select(Lead.id).where(Lead.email == email))
    message = await session.scalar(select(OutboxMessage).where(OutboxMessage.lead_id == lead_id))
    assert message is not None
    link = CONFIRM_LINK.search(message.payload["text"])
    assert link is not None
    confirmed = await client.get(f"/c/{link.group(1)}")
    assert confirmed.status_code == 200, confirmed.text


@pytest.mark.usefixtures("owner")
async def test_likes_leads_and_customers_per_platform_the_next_day_without_a_csv(
    *,
    client: httpx.AsyncClient,
    app: Any,
    session: AsyncSession,
    world: World,
    platforms: Platforms,
    mailchimp: Mailchimp,
) -> None:
    youtube, tiktok, poller, clock = (
        platforms.youtube,
        platforms.tiktok,
        platforms.poller,
        platforms.clock,
    )
    await session.execute(
        update(Handle).where(Handle.id == world.anna.id).values(default_page_id=world.anna_page.id)
    )
    await session.commit()
    youtube.state.followers, youtube.state.videos = 1000, {"yt2": 40, "yt1": 300}
    tiktok.state.followers = 5000
    tiktok.state.add_video("701", 900)
    await sign_in(client)

    # The owner connects the four services in the admin.
    await _connect(client, provider="youtube", handles=["anna"], **YOUTUBE_FORM)
    await _connect(client, provider="tiktok", handles=["anna"], **TIKTOK_FORM)
    await _connect(client, provider="stripe", handles=["anna"], secret=STRIPE_SECRET)
    email_tool_form = (await client.get("/admin/connections/email-tools/new")).text
    connected = await client.post(
        "/admin/connections/email-tools",
        data={
            "csrf_token": csrf_from(email_tool_form),
            "provider": "mailchimp",
            "secret": KEYS["mailchimp"],
            "list_id": mailchimp.list_id,
            "handles": ["anna"],
        },
    )
    assert connected.status_code == 303, connected.text
    assert [result.outcome for result in await poller.run_once()] == ["fetched", "fetched"]

    # Visitors come through the one link and opt in; Stripe reports a sale for one.
    await _opt_in_from(client, app, "youtube", "yt.fan@example.com")
    await _opt_in_from(client, app, "youtube", "yt.other@example.com")
    await _opt_in_from(client, app, "tiktok", "tt.fan@example.com")
    for fan in ("yt.fan@example.com", "tt.fan@example.com"):
        await _confirm(client, session, fan)
    await outbox_worker(app.state.database, app.state.settings).drain()
    # Confirmed (and ticked the newsletter box): in the creator's Mailchimp audience with the
    # platform they came from; the one who never confirmed is not.
    for fan, platform in (("yt.fan@example.com", "youtube"), ("tt.fan@example.com", "tiktok")):
        member = mailchimp.member(fan)
        assert member is not None, fan
        assert (member["status"], member["merge_fields"]) == ("subscribed", {"FNAME": "Fan"})
        assert f"source: {platform}" in member["tags"]
    assert mailchimp.member("yt.other@example.com") is None
    stripe = await session.scalar(select(Connection).where(Connection.provider == "stripe"))
    assert stripe is not None
    await app.state.one_link.writer.flush()  # the visits, written behind
    sale = await post_stripe(client, stripe, checkout_event("evt_e2e", "yt.fan@example.com", 4900))
    assert sale.json()["outcome"] == "customer"

    # The platforms move, a day passes, the worker polls.
    youtube.state.followers, youtube.state.videos = 1020, {"yt3": 15, "yt2": 45, "yt1": 310}
    tiktok.state.followers = 5100
    tiktok.state.videos["701"] = 950
    tiktok.state.add_video("702", 30)
    clock.advance(days=1)
    assert [result.outcome for result in await poller.run_once()] == ["fetched", "fetched"]

    # The report: from the day the leads came (today) to the day just fetched.
    dates = {"from": utcnow().date().isoformat(), "to": clock.today.isoformat()}
    report = await client.get(
        "/api/v1/reports/conversion",
        params={"handle": "anna", **dates},
        headers=bearer(world.keys["reports"]),
    )
    assert report.status_code == 200, report.text
    rows = {row["source"]: row for row in report.json()["rows"]}
    # Likes, followers, leads, confirmed leads, customers.
    expected = {"youtube": (15 + 5 + 10, 1020, 2, 1, 1), "tiktok": (50 + 30, 5100, 1, 1, 0)}
    for source, numbers in expected.items():
        row = rows[source]
        found = (row["likes"], row["followers"], row["leads"], row["confirmed_leads"])
        assert (*found, row["customers"]) == numbers
    assert (rows["youtube"]["visits"], rows["tiktok"]["visits"]) == (2, 1)
    assert rows["youtube"]["like_to_lead"] == pytest.approx(2 / 30)

    page = await client.get("/admin/report", params={"handle": "anna", **dates})
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    # Source, likes, followers, visits, unique visitors, previews, leads, confirmed, customers.
    assert "youtube 30 1,020 2 1 0 2 1 1" in text
    assert "tiktok 80 5,100 1 1 0 1 1 0" in text
