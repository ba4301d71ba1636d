"""Lead changes become webhook events: opt-in, confirmation, unsubscribe, CRM updates and
erasure, each queued in the transaction of the change, so only a committed change is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database, utcnow
from app.delivery.models import OutboxMessage
from app.leads import privacy
from app.leads import service as leads
from app.leads.models import Lead
from app.leads.opt_in_writer import NewOptIn, OptInWriter
from app.outbox_handlers import outbox_worker
from app.pages.models import Page
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.databases import BACKENDS, DatabaseUnderTest, FreshDatabases, make_settings
from tests.factories import add_endpoint, add_handle, add_page, opt_in_form
from tests.webhooks.webhook_helpers import Receiver, lead_links


async def _events(session: AsyncSession, endpoint: WebhookEndpoint) -> list[dict[str, Any]]:
    """The envelopes queued for `endpoint`, oldest first."""
    rows = await session.execute(
        select(OutboxMessage.payload)
        .join(WebhookDelivery, WebhookDelivery.outbox_message_id == OutboxMessage.id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(OutboxMessage.id)
    )
    return [json.loads(payload["body"]) for (payload,) in rows]


async def test_opt_in_confirmation_and_unsubscribe_are_announced(session: AsyncSession) -> None:
    anna = await add_handle(session, "anna")
    page = await add_page(session, anna, "guide", double_opt_in=True)
    everything, _ = await add_endpoint(session, "https://93.184.216.34/all")
    confirmations, _ = await add_endpoint(
        session, "https://93.184.216.34/confirmed", events=("lead.confirmed",)
    )

    lead_id = await leads.submit_opt_in(
        session, page, opt_in_form("fan@example.com"), None, lead_links()
    )
    assert lead_id is not None
    await leads.confirm_lead(session, lead_id, lead_links(), link_issued_at=utcnow())
    # a second click changes nothing
    await leads.confirm_lead(session, lead_id, lead_links(), link_issued_at=utcnow())
    await leads.unsubscribe_lead(session, lead_id)

    events = await _events(session, everything)
    assert [event["type"] for event in events] == [
        "lead.created",
        "lead.confirmed",
        "lead.unsubscribed",
    ]
    assert len({event["id"] for event in events}) == 3
    created, confirmed, unsubscribed = (event["data"] for event in events)
    assert created["id"] == str(lead_id)
    assert created["email"] == "fan@example.com"
    assert created["page"] == "guide"
    assert created["handle"] == "anna"
    assert created["status"] == "pending"
    assert created["source"] == "direct"
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"]
    assert unsubscribed["status"] == "unsubscribed"
    assert all(event["api_version"] == "2026-11-22" for event in events)
    assert [event["type"] for event in await _events(session, confirmations)] == ["lead.confirmed"]


async def test_opt_ins_written_in_one_batch_are_each_announced(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    """The group-committed opt-in path (`OptInWriter`) announces each new lead like the
    service does, in the batch's transaction; a repeat of an address announces nothing."""
    anna = await add_handle(session, "anna")
    page = await add_page(session, anna, "guide", double_opt_in=True)
    endpoint, _ = await add_endpoint(session, "https://93.184.216.34/all")
    await session.commit()

    writer = OptInWriter(Database(connection, owns_engine=False), lead_links())
    writer.start()
    try:
        ids = await asyncio.gather(
            *(
                writer.write(NewOptIn(page, opt_in_form(email), None, utcnow()))
                for email in ("one@example.com", "two@example.com", "one@example.com")
            )
        )
    finally:
        await writer.stop()

    first, second, repeat = ids
    assert repeat is None
    events = await _events(session, endpoint)
    assert [(event["type"], event["data"]["id"]) for event in events] == [
        ("lead.created", str(first)),
        ("lead.created", str(second)),
    ]
    created = events[0]["data"]
    assert created["email"] == "one@example.com"
    assert (created["page"], created["handle"]) == ("guide", "anna")
    assert (created["status"], created["source"]) == ("pending", "direct")
    assert created["created_at"]


async def test_endpoints_hear_only_about_their_handles_and_disabled_ones_nothing(
    session: AsyncSession,
) -> None:
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    annas_page = await add_page(session, anna, "anna-guide", double_opt_in=False)
    bobs_page = await add_page(session, bob, "bob-guide", double_opt_in=False)
    for_anna, _ = await add_endpoint(
        session, "https://93.184.216.34/a", handles=frozenset([anna.id])
    )
    switched_off, _ = await add_endpoint(session, "https://93.184.216.34/off")
    switched_off.status = "disabled"
    await session.flush()

    await leads.submit_opt_in(session, annas_page, opt_in_form("a@example.com"), None, lead_links())
    await leads.submit_opt_in(session, bobs_page, opt_in_form("b@example.com"), None, lead_links())

    events = await _events(session, for_anna)
    assert [(event["type"], event["data"]["email"]) for event in events] == [
        ("lead.created", "a@example.com")
    ]
    assert events[0]["data"]["status"] == "confirmed", "a single opt-in page confirms at once"
    assert await _events(session, switched_off) == []


async def test_an_erased_lead_is_announced_by_id_only_and_its_earlier_events_are_dropped(
    session: AsyncSession,
) -> None:
    anna = await add_handle(session, "anna")
    page = await add_page(session, anna, "guide", double_opt_in=True)
    endpoint, _ = await add_endpoint(session, "https://93.184.216.34/all")
    lead_id = await leads.submit_opt_in(
        session, page, opt_in_form("fan@example.com", "Fan Name"), None, lead_links()
    )
    assert lead_id is not None
    # A receiver that echoed the address back: its answer must not outlive the lead either.
    earlier, _ = await add_endpoint(session, "https://93.184.216.34/earlier")
    echoed = WebhookDelivery(
        endpoint_id=earlier.id,
        event_id="evt_1",
        event_type="lead.created",
        lead_id=lead_id,
        status="delivered",
        response_body='{"saved": "fan@example.com"}',
        last_error="HTTP 400: fan@example.com",
    )
    session.add(echoed)
    await session.flush()

    await privacy.erase_lead(session, lead_id, visible=None)

    events = await _events(session, endpoint)
    assert [(event["type"], event["data"]) for event in events] == [
        ("lead.erased", {"id": str(lead_id)})
    ]
    payloads = (await session.scalars(select(OutboxMessage.payload))).all()
    assert not any(
        "fan@example.com" in json.dumps(p) or "Fan Name" in json.dumps(p) for p in payloads
    )
    logged = (
        await session.scalars(select(WebhookDelivery).where(WebhookDelivery.lead_id == lead_id))
    ).all()
    await session.refresh(echoed)
    assert echoed.response_body is None
    assert echoed.last_error is None
    logged = [delivery for delivery in logged if delivery.id != echoed.id]
    statuses = sorted((delivery.event_type, delivery.status) for delivery in logged)
    assert statuses == [
        ("lead.created", "failed"),
        ("lead.erased", "pending"),
        ("lead.erased", "pending"),
    ]
    cancelled = next(d for d in logged if d.event_type == "lead.created")
    assert cancelled.last_error is not None
    assert "erased" in cancelled.last_error


@pytest.fixture(params=BACKENDS)
async def committed(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[DatabaseUnderTest]:
    """A fresh migrated database of its own, for tests that commit for real."""
    under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    yield under_test
    await cleanup()


async def test_events_are_sent_after_commit_only(
    committed: DatabaseUnderTest, receiver: Receiver, tmp_path: Path
) -> None:
    database = Database(committed.engine, owns_engine=False)
    url = committed.settings.effective_database_url
    worker = outbox_worker(database, make_settings(tmp_path, url, webhook_allow_private=True))
    async with database.session() as session:
        page = await add_page(session, await add_handle(session, "anna"), "guide")
        _, secret = await add_endpoint(session, receiver.url)
        await session.commit()
        page_id = page.id

    async with database.session() as session:
        page = await session.get_one(Page, page_id)
        form = opt_in_form("gone@example.com")
        await leads.submit_opt_in(session, page, form, None, lead_links())
        await session.rollback()
    assert await worker.drain() == 0
    assert receiver.requests == []

    async with database.session() as session:
        page = await session.get_one(Page, page_id)
        form = opt_in_form("kept@example.com")
        await leads.submit_opt_in(session, page, form, None, lead_links())
        await session.commit()
    assert await worker.drain() == 2, "the confirmation email and the webhook"
    assert await worker.drain() == 0
    [request] = receiver.requests
    assert request.verifies_with(secret)
    envelope = json.loads(request.body)
    assert envelope["type"] == "lead.created"
    assert envelope["data"]["email"] == "kept@example.com"
    async with database.session(write=False) as session:
        assert (await session.scalars(select(Lead.email))).all() == ["kept@example.com"]
        [delivery] = (await session.scalars(select(WebhookDelivery))).all()
        assert delivery.status == "delivered"
        assert delivery.attempts == 1
