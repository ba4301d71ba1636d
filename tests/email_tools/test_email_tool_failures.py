"""Each failure of an email tool, as its documented answer, through the real worker: a refused
key turns the connection to "needs reconnect" with one call per lead and no retries; 429 waits
for Retry-After; a 5xx or a body that is not JSON is retried and shown until a call succeeds;
a person the tool refuses fails alone and the connection stays active."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections import service as connections
from app.delivery.worker import OutboxWorker
from app.leads import privacy
from app.leads.email_tools import send_existing
from tests.connection_helpers import events, fresh
from tests.delivery.outbox_helpers import Clock
from tests.email_tools.contract_servers import Answer, Brevo, ContractServer, Kit, Mailchimp
from tests.email_tools.email_helpers import (
    KEYS,
    PROVIDERS,
    everything_stored,
    guide_page_connected,
    sign_up,
    sync_rows,
    tool_messages,
)


async def test_a_refused_key_needs_reconnecting_and_causes_no_retry_storm(  # noqa: PLR0917
    session: AsyncSession,
    settings: Settings,
    mailchimp: Mailchimp,
    make_worker: Callable[..., OutboxWorker],
    app: Any,
    clock: Clock,
) -> None:
    page, connection = await guide_page_connected(
        session, settings, "mailchimp", key="old-key-us21"
    )
    connection_id = connection.id
    first = await sign_up(session, page, "one@example.com")
    await sign_up(session, page, "two@example.com")
    await sign_up(session, page, "three@example.com")
    worker = make_worker(app, batch_size=1)

    await worker.drain()
    clock.advance(days=2)
    await worker.drain()

    # The first call was refused; the other leads were not even tried (a batch already in
    # flight would be, once each), and nothing is retried however long it waits.
    assert len(mailchimp.requests) == 1
    connection = await fresh(session, connection_id)
    assert connection.status == "needs_reconnect"
    assert connection.last_error == "Mailchimp refused the API key (401): paste a new one."
    assert [m.status for m in await tool_messages(session)] == ["failed"] * 3
    assert {row.state for row in await sync_rows(session, first)} == {"failed"}
    log = await events(session, connection)
    assert {event.outcome for event in log} == {"failed"}
    assert first in {event.lead_id for event in log}

    # A new key, then "Send confirmed leads" (the admin does both at once): all three arrive.
    connection = await fresh(session, connection_id)
    await connections.set_secret(
        session, connection, KEYS["mailchimp"], connections.cipher_of(settings)
    )
    assert await send_existing(session, connection) == 3
    assert await send_existing(session, connection) == 0  # pressed twice: nothing twice
    await session.commit()
    await worker.drain()
    assert sorted(mailchimp.members[h]["email_address"] for h in mailchimp.members) == [
        "one@example.com",
        "three@example.com",
        "two@example.com",
    ]
    assert (await fresh(session, connection_id)).status == "active"


async def test_429_waits_for_retry_after(
    session: AsyncSession,
    settings: Settings,
    kit: Kit,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    page, connection = await guide_page_connected(session, settings, "kit")
    connection_id = connection.id
    await sign_up(session, page, "fan@example.com")
    kit.fail_next(Answer(429, {"errors": ["Rate limit exceeded"]}, {"Retry-After": "600"}))

    await worker.drain()
    (message,) = await tool_messages(session)
    assert message.status == "pending"
    assert message.next_attempt_at >= clock() + timedelta(seconds=590)
    assert "429" in (await fresh(session, connection_id)).last_error  # type: ignore[operator]
    clock.advance(seconds=300)
    await worker.drain()
    assert len(kit.requests) == 1  # not before Retry-After

    clock.advance(seconds=301)
    await worker.drain()
    (message,) = await tool_messages(session)
    assert message.status == "sent"
    connection = await fresh(session, connection_id)
    assert (connection.status, connection.last_error) == ("active", None)


@pytest.mark.parametrize(
    "failure",
    [
        Answer(503, {"code": "service_unavailable", "message": "Try later"}),
        Answer(200, raw=b"<html>maintenance</html>"),
    ],
    ids=["5xx", "malformed"],
)
async def test_a_5xx_or_a_malformed_answer_is_retried_and_shown_until_it_succeeds(  # noqa: PLR0917
    failure: Answer,
    session: AsyncSession,
    settings: Settings,
    brevo: Brevo,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    page, connection = await guide_page_connected(session, settings, "brevo")
    connection_id = connection.id
    lead_id = await sign_up(session, page, "fan@example.com")
    brevo.fail_next(failure)

    await worker.drain()
    connection = await fresh(session, connection_id)
    assert connection.status == "error"
    expected = "answered 503" if failure.status == 503 else "not JSON"
    assert expected in (connection.last_error or "")
    assert [row.state for row in await sync_rows(session, lead_id)] == ["queued"]

    clock.advance(minutes=2)
    await worker.drain()
    connection = await fresh(session, connection_id)
    assert (connection.status, connection.last_error) == ("active", None)
    assert [row.state for row in await sync_rows(session, lead_id)] == ["synced"]
    assert [event.outcome for event in await events(session, connection)] == ["failed", "sent"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_person_the_tool_refuses_fails_alone(  # noqa: PLR0917
    provider: str,
    session: AsyncSession,
    settings: Settings,
    tools: dict[str, ContractServer],
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    page, connection = await guide_page_connected(session, settings, provider)
    connection_id = connection.id
    refused = await sign_up(session, page, "someone@looks-fake.com")
    fine = await sign_up(session, page, "fan@example.com")

    await worker.drain()
    clock.advance(days=1)
    await worker.drain()

    connection = await fresh(session, connection_id)
    assert connection.status == "active"
    assert [row.state for row in await sync_rows(session, refused)] == ["failed"]
    assert [row.state for row in await sync_rows(session, fine)] == ["synced"]
    outcomes = {event.lead_id: event.outcome for event in await events(session, connection)}
    assert outcomes == {refused: "refused", fine: "sent"}
    assert all("looks-fake" not in (e.detail or "") for e in await events(session, connection))
    writes = [seen for seen in tools[provider].requests if seen.method != "GET"]
    assert sum("looks-fake" in str(seen.json) for seen in writes) == 1  # tried once, not again


async def test_an_erasure_retried_after_an_answer_quoting_the_address_keeps_no_copy(
    session: AsyncSession,
    settings: Settings,
    brevo: Brevo,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    page, _ = await guide_page_connected(session, settings, "brevo")
    lead_id = await sign_up(session, page, "gone@example.com")
    await worker.drain()
    await privacy.erase_lead(session, lead_id, visible=None)
    await session.commit()
    quoting = {"code": "permission_denied", "message": "gone@example.com is locked, try later"}
    brevo.fail_next(Answer(403, quoting))

    await worker.drain()
    assert "gone@example.com" in await everything_stored(session)  # the erasure still to send
    clock.advance(minutes=2)
    await worker.drain()

    assert brevo.contacts == {}
    assert "gone@example.com" not in await everything_stored(session)
    errors = [message.last_error or "" for message in await tool_messages(session)]
    assert any("<address> is locked" in error for error in errors)  # the 403, as kept


async def test_an_erasure_waits_for_a_new_key_and_a_disabled_tool_still_gets_it(
    session: AsyncSession,
    settings: Settings,
    mailchimp: Mailchimp,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    page, connection = await guide_page_connected(session, settings, "mailchimp")
    connection_id = connection.id
    lead_id = await sign_up(session, page, "gone@example.com")
    await worker.drain()
    mailchimp.key = "revoked"  # the owner revoked the key in Mailchimp

    await privacy.erase_lead(session, lead_id, visible=None)
    await session.commit()
    await worker.drain()
    connection = await fresh(session, connection_id)
    assert connection.status == "needs_reconnect"
    calls = len(mailchimp.requests)
    clock.advance(minutes=30)
    await worker.drain()
    assert len(mailchimp.requests) == calls  # waiting for a key: no calls meanwhile
    (erasure,) = await tool_messages(session)
    assert erasure.status == "pending"

    # A new key is pasted, and the owner disables the connection: the erasure still goes.
    mailchimp.key = "new-key-us21"
    connection = await fresh(session, connection_id)
    await connections.set_secret(
        session, connection, "new-key-us21", connections.cipher_of(settings)
    )
    await connections.set_status(session, connection, enabled=False)
    await session.commit()
    clock.advance(hours=1)
    await worker.drain()
    assert mailchimp.member("gone@example.com") is None
    (erasure,) = await tool_messages(session)
    assert erasure.status == "sent"
    assert "gone@example.com" not in await everything_stored(session)
