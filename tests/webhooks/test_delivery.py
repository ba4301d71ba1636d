"""Delivering webhooks to a real HTTP receiver on a local port: signed (checked with the
documented receiver example), retried through the outbox with back-off and `Retry-After`, sent
exactly once when it succeeds; `410 Gone` disables the endpoint; a spent retry budget marks it
unhealthy, loudly; both secrets sign during a rotation; redelivery and ping."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.db import utcnow
from app.delivery.models import OutboxMessage
from app.delivery.worker import OutboxWorker
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.sender import MAX_RESPONSE_BODY
from tests.delivery.outbox_helpers import Clock
from tests.webhooks.webhook_helpers import Receiver, api

HOOKS = "/api/v1/webhooks"


async def _create(client: httpx.AsyncClient, key: str, url: str, **fields: Any) -> dict[str, Any]:
    response = await api(client, key, "POST", HOOKS, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()
    return hook


async def _ping(client: httpx.AsyncClient, key: str, hook: dict[str, Any]) -> dict[str, Any]:
    response = await api(client, key, "POST", f"{HOOKS}/{hook['id']}/ping")
    assert response.status_code == 202, response.text
    delivery: dict[str, Any] = response.json()
    assert delivery["status"] == "pending"
    assert delivery["event_type"] == "ping"
    return delivery


async def _log(client: httpx.AsyncClient, key: str, hook: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api(client, key, "GET", f"{HOOKS}/{hook['id']}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
def worker(app: Any, make_worker: Callable[..., OutboxWorker]) -> OutboxWorker:
    """The app's database and settings, the default handlers, a short budget, a test clock."""
    return make_worker(app.state.database, app.state.settings)


async def test_a_failing_receiver_gets_the_event_again_until_it_takes_it_exactly_once(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    receiver.answer(500, b"database is down")
    receiver.answer(429, b"slow down", Retry_After="120")
    receiver.answer(200, b'{"ok":true}')
    await _ping(client, admin_key, hook)

    assert await worker.drain() == 1
    assert len(receiver.requests) == 1
    [first] = await _log(client, admin_key, hook)
    assert first["status"] == "pending"
    assert first["attempts"] == 1
    assert first["last_status_code"] == 500
    assert first["response_body"] == "database is down"
    assert "HTTP 500" in first["last_error"]

    clock.advance(seconds=2)  # the back-off after the first attempt
    assert await worker.drain() == 1
    assert len(receiver.requests) == 2
    clock.advance(seconds=60)  # Retry-After said 120 s: not yet
    assert await worker.drain() == 0
    clock.advance(seconds=61)
    assert await worker.drain() == 1
    assert len(receiver.requests) == 3

    clock.advance(hours=48)
    assert await worker.drain() == 0, "a delivered event is not sent again"
    assert len(receiver.requests) == 3
    [delivered] = await _log(client, admin_key, hook)
    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 3
    assert delivered["last_status_code"] == 200
    assert delivered["last_error"] is None
    assert delivered["response_body"] == '{"ok":true}'
    assert isinstance(delivered["last_latency_ms"], int)
    assert delivered["delivered_at"]

    ids = {request.headers["Leadlink-Id"] for request in receiver.requests}
    assert ids == {delivered["event_id"]}, "every attempt carries the same event id"
    for request in receiver.requests:
        assert request.method == "POST"
        assert request.target == "/hooks/leadlink"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Host"].startswith("127.0.0.1:")
        assert request.verifies_with(hook["secret"]), "checked with docs/examples"
        assert not request.verifies_with("whsec_someone-else")
        assert request.headers["Leadlink-Signature"].startswith(
            f"t={request.headers['Leadlink-Timestamp']},v1="
        )
    envelope = json.loads(receiver.requests[-1].body)
    assert envelope["id"] == delivered["event_id"]
    assert envelope["type"] == "ping"
    assert envelope["api_version"] == "2026-11-22"
    assert envelope["created_at"].endswith("Z")
    assert envelope["data"]["endpoint_id"] == hook["id"]


async def test_410_gone_disables_the_endpoint_and_stops(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: Clock,
    session: AsyncSession,
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    receiver.answer(410, b"no such hook")
    ping = await _ping(client, admin_key, hook)
    await worker.drain()
    clock.advance(days=3)
    assert await worker.drain() == 0
    assert len(receiver.requests) == 1

    shown = (await api(client, admin_key, "GET", f"{HOOKS}/{hook['id']}")).json()
    assert shown["status"] == "disabled"
    assert "410 Gone" in shown["disabled_reason"]
    [failed] = await _log(client, admin_key, hook)
    assert failed["status"] == "failed"
    assert failed["last_status_code"] == 410
    delivery = await session.get_one(WebhookDelivery, int(ping["id"]))
    message = await session.get_one(OutboxMessage, delivery.outbox_message_id)
    assert message.status == "failed"

    again = await api(client, admin_key, "POST", f"{HOOKS}/{hook['id']}/ping")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    enabled = await api(
        client, admin_key, "PATCH", f"{HOOKS}/{hook['id']}", json={"status": "active"}
    )
    assert enabled.json()["status"] == "active"
    await _ping(client, admin_key, hook)
    await worker.drain()
    assert len(receiver.requests) == 2


async def test_a_spent_retry_budget_marks_the_endpoint_unhealthy_and_says_so(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    for _ in range(3):
        receiver.answer(503, b"maintenance " * 500)
    await _ping(client, admin_key, hook)
    failed_before = metrics.webhook_deliveries.labels("failed")._value.get()

    with caplog.at_level(logging.INFO):
        for _ in range(5):
            await worker.drain()
            clock.advance(seconds=5)
    assert len(receiver.requests) == 3, "the budget (3 attempts in this test) is spent"

    [failed] = await _log(client, admin_key, hook)
    assert failed["status"] == "failed"
    assert failed["attempts"] == 3
    assert failed["last_status_code"] == 503
    assert len(failed["response_body"].encode()) == MAX_RESPONSE_BODY, "the stored body is cut"
    assert len(failed["last_error"]) < 300, "the error quotes the body briefly"
    shown = (await api(client, admin_key, "GET", f"{HOOKS}/{hook['id']}")).json()
    assert shown["status"] == "unhealthy"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(r.name == "app.webhooks.sender" and "unhealthy" in r.getMessage() for r in errors)
    assert all(len(r.getMessage()) < 1500 for r in caplog.records), "bodies are cut in the log"
    assert metrics.webhook_deliveries.labels("failed")._value.get() == failed_before + 1

    # Events still go to an unhealthy endpoint, and the first success makes it healthy again.
    await _ping(client, admin_key, hook)
    await worker.drain()
    shown = (await api(client, admin_key, "GET", f"{HOOKS}/{hook['id']}")).json()
    assert shown["status"] == "active"


async def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    worker: OutboxWorker,
    session: AsyncSession,
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    old = hook["secret"]
    rotated = await api(client, admin_key, "POST", f"{HOOKS}/{hook['id']}/rotate-secret")
    new = rotated.json()["secret"]

    await _ping(client, admin_key, hook)
    await worker.drain()
    during = receiver.requests[-1]
    assert during.headers["Leadlink-Signature"].count("v1=") == 2
    assert during.verifies_with(new)
    assert during.verifies_with(old)

    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == int(hook["id"]))
        .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    await _ping(client, admin_key, hook)
    await worker.drain()
    after = receiver.requests[-1]
    assert after.headers["Leadlink-Signature"].count("v1=") == 1
    assert after.verifies_with(new)
    assert not after.verifies_with(old)


async def test_redeliver_sends_the_same_event_again_as_a_new_delivery(
    client: httpx.AsyncClient, admin_key: str, receiver: Receiver, worker: OutboxWorker
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    ping = await _ping(client, admin_key, hook)
    await worker.drain()
    url = f"{HOOKS}/{hook['id']}/deliveries/{ping['id']}/redeliver"
    again = await api(client, admin_key, "POST", url)
    assert again.status_code == 202, again.text
    assert again.json()["event_id"] == ping["event_id"]
    assert again.json()["id"] != ping["id"]
    await worker.drain()

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Leadlink-Id"] == second.headers["Leadlink-Id"] == ping["event_id"]
    assert second.verifies_with(hook["secret"])
    log = await _log(client, admin_key, hook)
    assert [item["id"] for item in log] == [again.json()["id"], ping["id"]], "newest first"
    assert {item["status"] for item in log} == {"delivered"}
    delivered = await api(
        client, admin_key, "GET", f"{HOOKS}/{hook['id']}/deliveries", params={"status": "failed"}
    )
    assert delivered.json()["items"] == []

    missing = await api(client, admin_key, "POST", f"{HOOKS}/{hook['id']}/deliveries/999/redeliver")
    assert missing.status_code == 404


async def test_an_address_that_became_private_is_refused_at_delivery_time(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    app: Any,
    make_worker: Callable[..., OutboxWorker],
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    await _ping(client, admin_key, hook)
    strict = app.state.settings.model_copy(update={"webhook_allow_private": False})
    await make_worker(app.state.database, strict).drain()
    assert receiver.requests == []
    [pending] = await _log(client, admin_key, hook)
    assert pending["status"] == "pending"
    assert pending["last_status_code"] is None
    assert "loopback" in pending["last_error"]


async def test_redirects_are_not_followed_and_a_disabled_endpoint_gets_nothing(
    *,
    client: httpx.AsyncClient,
    admin_key: str,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: Clock,
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    receiver.answer(302, Location="http://169.254.169.254/latest/meta-data")
    await _ping(client, admin_key, hook)
    await worker.drain()
    assert len(receiver.requests) == 1
    [retrying] = await _log(client, admin_key, hook)
    assert retrying["status"] == "pending"
    assert retrying["last_status_code"] == 302
    assert "redirects are not followed" in retrying["last_error"]

    await api(client, admin_key, "PATCH", f"{HOOKS}/{hook['id']}", json={"status": "disabled"})
    clock.advance(minutes=5)
    await worker.drain()
    assert len(receiver.requests) == 1
    [dropped] = await _log(client, admin_key, hook)
    assert dropped["status"] == "failed"
    assert "disabled" in dropped["last_error"]


async def test_deleting_an_endpoint_drops_what_was_waiting_for_it(
    client: httpx.AsyncClient, admin_key: str, receiver: Receiver, worker: OutboxWorker
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    await _ping(client, admin_key, hook)
    assert (await api(client, admin_key, "DELETE", f"{HOOKS}/{hook['id']}")).status_code == 204
    assert await worker.drain() == 0
    assert receiver.requests == []


async def test_error_messages_quote_the_answer_without_email_addresses(
    client: httpx.AsyncClient, admin_key: str, receiver: Receiver, worker: OutboxWorker
) -> None:
    hook = await _create(client, admin_key, receiver.url)
    receiver.answer(422, b'{"error": "contact fan@example.com is invalid"}')
    await _ping(client, admin_key, hook)
    await worker.drain()
    [retrying] = await _log(client, admin_key, hook)
    assert retrying["last_error"] == 'HTTP 422: {"error": "contact <address> is invalid"}'
    assert retrying["response_body"] == '{"error": "contact fan@example.com is invalid"}'
