"""The opt-in flow end to end, as a visitor and their mailbox see it, against a real SMTP server
and a real (committed) database on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db import Database, utcnow
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.links import service as links
from app.pages import service as pages
from app.pages.schemas import PageCreate
from app.signing import Signer
from app.webhooks.models import WebhookDelivery
from tests.apps import build_app
from tests.databases import BACKENDS, FreshDatabases, make_settings
from tests.factories import add_endpoint
from tests.smtp_server import SmtpServer

INSTAGRAM_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 325.0.0.35.91 (iPhone15,2; iOS 17_4; en_US; en; "
    "scale=3.00; 1179x2556; 590456498)"
)
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')


@dataclass
class Flow:
    client: httpx.AsyncClient
    app: Any
    database: Database
    smtp: SmtpServer

    async def one(self, model: Any, *where: Any) -> Any:
        async with self.database.session(write=False) as session:
            return await session.scalar(select(model).where(*where))

    async def count(self, model: Any, *where: Any) -> int:
        async with self.database.session(write=False) as session:
            counted = await session.execute(select(func.count()).select_from(model).where(*where))
            return counted.scalar_one()

    async def mails(self, count: int, within: float = 10.0) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.smtp.messages) < count:
            assert asyncio.get_running_loop().time() < deadline, "mail did not arrive"
            self.app.state.outbox.wake()
            await asyncio.sleep(0.02)
        return self.smtp.messages

    async def all_sent(self, within: float = 10.0) -> list[Any]:
        """What the SMTP server got once every email queued so far is delivered (the opt-in and
        confirmation requests queue theirs before they answer, so nothing comes later)."""
        deadline = asyncio.get_running_loop().time() + within
        while await self.count(OutboxMessage, OutboxMessage.status != "sent"):
            assert asyncio.get_running_loop().time() < deadline, "queued mail was not delivered"
            self.app.state.outbox.wake()
            await asyncio.sleep(0.02)
        return self.smtp.messages

    async def form_token(self, path: str = "/@anna", user_agent: str = INSTAGRAM_IOS) -> str:
        """Open the page like a visitor and return its attribution field, aged past the 2 s a
        human needs at least (instead of sleeping in every test)."""
        response = await self.client.get(path, headers={"user-agent": user_agent})
        assert response.status_code == 200
        token = TOKEN_FIELD.search(response.text)
        assert token is not None
        signer: Signer = self.app.state.one_link.signer
        values, issued = signer.unsign_fields(token.group(1))
        return signer.sign_fields(values, now=issued - 5)

    async def submit(self, slug: str = "guide", **fields: str) -> httpx.Response:
        data = {"a": await self.form_token(), "consent": "yes", "website": "", **fields}
        return await self.client.post(f"/p/{slug}", data=data)


@pytest.fixture(params=BACKENDS)
async def flow(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[Flow]:
    database_under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    smtp = SmtpServer()
    await smtp.start()
    settings = make_settings(
        tmp_path,
        database_under_test.settings.effective_database_url,
        base_url="http://testserver",
        optin_rate_per_ip="1000/minute",
        optin_rate_per_email="1000/hour",
        outbox_in_process=True,
        **smtp.settings(),
    )
    database = Database(database_under_test.engine, owns_engine=False)
    async with database.session() as session:
        handle = await links.create_handle(session, "anna")
        page = await pages.create_page(
            session,
            handle,
            PageCreate(
                slug="guide",
                title="The guide",
                gift_kind="code",
                gift_value="WELCOME10",
                gift_title="10% off",
                consent_text="Email me the code.",
            ),
        )
        await pages.publish_page(session, page)
        await session.commit()
    app = build_app(settings, database=database)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Flow(c, app, database, smtp)
    finally:
        await smtp.stop()
        await cleanup()


def link_in(message: Any, prefix: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(rf"http://testserver({prefix}/[A-Za-z0-9_.-]+)", text)
    assert found is not None, text
    return found.group(1)


async def test_double_opt_in_from_visit_to_gift_to_unsubscribe(flow: Flow) -> None:
    response = await flow.submit(email="Anna@Example.com", name="Anna Secret")
    assert response.status_code == 303
    assert response.headers["location"] == "/p/guide/thanks"
    lead = await flow.one(Lead)
    assert (lead.email, lead.status, lead.source, lead.name) == (
        "anna@example.com", "pending", "instagram", "Anna Secret"
    )  # fmt: skip
    assert lead.visit_ref  # the visit that brought them

    [confirmation] = await flow.mails(1)
    assert confirmation["To"] == "anna@example.com"
    assert confirmation.get_body(preferencelist=("plain",)) is not None
    assert confirmation.get_body(preferencelist=("html",)) is not None
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in confirmation["List-Unsubscribe"]
    assert "Anna Secret" not in confirmation.as_string()  # no typed name before confirmation

    thanks = await flow.client.get("/p/guide/thanks")
    assert "Check your inbox" in thanks.text
    assert "WELCOME10" not in thanks.text

    confirmed = await flow.client.get(link_in(confirmation, "/c"))
    assert confirmed.status_code == 200
    assert "WELCOME10" in confirmed.text
    lead = await flow.one(Lead)
    assert lead.status == "confirmed"
    assert lead.confirmed_at is not None

    gift_mail = (await flow.mails(2))[1]
    assert "WELCOME10" in gift_mail.get_body(preferencelist=("plain",)).get_content()

    again = await flow.client.get(link_in(confirmation, "/c"))
    assert again.status_code == 200
    assert "WELCOME10" in again.text
    assert len(await flow.all_sent()) == 2  # confirming twice sends nothing more

    unsubscribe = link_in(gift_mail, "/u")
    page = await flow.client.get(unsubscribe)
    assert 'method="post"' in page.text
    one_click = await flow.client.post(
        unsubscribe,
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    assert (await flow.one(Lead)).status == "unsubscribed"
    async with flow.database.session(write=False) as session:
        ledger = (await session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id))).all()
    assert ledger == ["opt_in", "confirmed", "unsubscribed"]


async def test_repeat_submissions_look_the_same_and_are_throttled(flow: Flow) -> None:
    first = await flow.submit(email="bob@example.com")
    second = await flow.submit(email="bob@example.com")
    unknown = await flow.submit(email="carol@example.com")
    assert first.status_code == second.status_code == unknown.status_code == 303
    assert first.headers["location"] == second.headers["location"] == unknown.headers["location"]
    assert await flow.count(Lead, Lead.email == "bob@example.com") == 1
    await flow.mails(2)  # bob's confirmation and carol's, not a second one for bob
    sent = await flow.all_sent()
    assert sorted(m["To"] for m in sent) == ["bob@example.com", "carol@example.com"]

    async with flow.database.session() as session:
        await session.execute(
            update(Lead).values(confirmation_sent_at=utcnow() - timedelta(minutes=11))
        )
        await session.commit()
    await flow.submit(email="bob@example.com")
    mails = await flow.mails(3)
    assert [m["To"] for m in mails].count("bob@example.com") == 2


async def test_a_confirmed_lead_repeating_gets_the_gift_again(flow: Flow) -> None:
    await flow.submit(email="dan@example.com")
    [confirmation] = await flow.mails(1)
    await flow.client.get(link_in(confirmation, "/c"))
    await flow.mails(2)
    await flow.submit(email="dan@example.com")
    assert len(await flow.all_sent()) == 2  # the gift was just sent: throttled
    async with flow.database.session() as session:
        await session.execute(update(Lead).values(gift_sent_at=utcnow() - timedelta(minutes=11)))
        await session.commit()
    await flow.submit(email="dan@example.com")
    third = (await flow.mails(3))[2]
    assert "WELCOME10" in third.get_body(preferencelist=("plain",)).get_content()


async def test_concurrent_submissions_of_one_address_make_one_lead(flow: Flow) -> None:
    token = await flow.form_token()
    data = {"a": token, "email": "same@example.com", "consent": "yes"}
    responses = await asyncio.gather(*(flow.client.post("/p/guide", data=data) for _ in range(200)))
    assert {r.status_code for r in responses} == {303}
    assert await flow.count(Lead) == 1
    assert await flow.count(OutboxMessage) == 1  # one confirmation, not 200


async def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(flow: Flow) -> None:
    """Mail scanners follow every GET: the confirmation link of a lead who unsubscribed since
    changes nothing and says how to opt in again; a new opt-in's link resubscribes."""
    async with flow.database.session() as session:
        await add_endpoint(session, "https://93.184.216.34/hook")
        await session.commit()
    await flow.submit(email="erin@example.com")
    [confirmation] = await flow.mails(1)
    old_link = link_in(confirmation, "/c")
    assert (await flow.client.get(old_link)).status_code == 200
    gift_mail = (await flow.mails(2))[1]
    await flow.client.post(link_in(gift_mail, "/u"), data={})
    assert (await flow.one(Lead)).status == "unsubscribed"
    outbox_before = await flow.count(OutboxMessage)
    deliveries_before = await flow.count(WebhookDelivery)
    ledger_before = await flow.count(ConsentEvent)

    scanned = await flow.client.get(old_link)

    assert scanned.status_code == 200
    assert "You are unsubscribed" in scanned.text
    assert "Opt in again on the page" in scanned.text
    assert 'href="/p/guide"' in scanned.text
    assert "WELCOME10" not in scanned.text
    lead = await flow.one(Lead)
    assert (lead.status, lead.unsubscribed_at is not None) == ("unsubscribed", True)
    assert await flow.count(ConsentEvent) == ledger_before
    assert await flow.count(OutboxMessage) == outbox_before
    assert await flow.count(WebhookDelivery) == deliveries_before

    async with flow.database.session() as session:  # a new opt-in, later on
        earlier = utcnow() - timedelta(minutes=11)
        await session.execute(
            update(Lead).values(unsubscribed_at=earlier, confirmation_sent_at=earlier)
        )
        await session.commit()
    await flow.submit(email="erin@example.com")
    sent = await flow.mails(3)
    resubscribed = await flow.client.get(link_in(sent[-1], "/c"))
    assert "WELCOME10" in resubscribed.text
    assert (await flow.one(Lead)).status == "confirmed"
    async with flow.database.session(write=False) as session:
        ledger = (await session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id))).all()
    assert ledger == ["opt_in", "confirmed", "unsubscribed", "opt_in", "resubscribed"]
