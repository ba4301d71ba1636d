"""Erasure by address (`POST /api/v1/erasures`): every lead of one email address on the handles
the key may see, each announced as `lead.erased`; idempotent, and refused as other writes are."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.delivery.models import OutboxMessage
from app.leads.models import Lead
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import World, add_endpoint, add_lead, bearer


async def _erased_events(session: AsyncSession, endpoint: WebhookEndpoint) -> list[str]:
    rows = await session.execute(
        select(OutboxMessage.payload)
        .join(WebhookDelivery, WebhookDelivery.outbox_message_id == OutboxMessage.id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(OutboxMessage.id)
    )
    bodies: list[dict[str, Any]] = [json.loads(payload["body"]) for (payload,) in rows]
    return [body["data"]["id"] for body in bodies if body["type"] == "lead.erased"]


async def _live_emails(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Lead.email, Lead.handle_id).where(Lead.erased_at.is_(None)).order_by(Lead.id)
    )
    return [(email, handle_id) for email, handle_id in rows]


async def test_a_key_of_one_handle_erases_only_that_handles_leads(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    # The world's anna lead is fan@example.com; bob gets one with the same address.
    bobs = await add_lead(session, world.bob_page, "fan@example.com")
    endpoint, _ = await add_endpoint(session, "https://93.184.216.34/hooks")
    await session.commit()

    response = await client.post(
        "/api/v1/erasures",
        json={"email": "Fan@Example.com"},
        headers=bearer(world.keys["anna_rw"]),
    )

    assert response.status_code == 200
    assert response.json() == {"erased": 1}
    assert await _live_emails(session) == [
        ("other@example.com", world.bob.id),
        ("fan@example.com", world.bob.id),
    ]
    assert await _erased_events(session, endpoint) == [str(world.anna_lead.id)]
    gone = await client.get(f"/api/v1/leads/{world.anna_lead.id}", headers=bearer(world.keys["rw"]))
    assert gone.status_code == 404

    everywhere = await client.post(
        "/api/v1/erasures", json={"email": "fan@example.com"}, headers=bearer(world.keys["rw"])
    )
    assert everywhere.json() == {"erased": 1}
    assert await _erased_events(session, endpoint) == [str(world.anna_lead.id), str(bobs.id)]

    again = await client.post(
        "/api/v1/erasures", json={"email": "fan@example.com"}, headers=bearer(world.keys["rw"])
    )
    assert again.status_code == 200
    assert again.json() == {"erased": 0}


async def test_every_lead_of_the_address_goes_at_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await add_lead(session, world.bob_page, "fan@example.com")
    await session.commit()
    response = await client.post(
        "/api/v1/erasures", json={"email": "fan@example.com"}, headers=bearer(world.keys["rw"])
    )
    assert response.json() == {"erased": 2}
    assert await _live_emails(session) == [("other@example.com", world.bob.id)]


async def test_a_bad_address_is_a_422_naming_email_and_erases_nothing(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    for body in ({"email": "not an address"}, {}, {"email": "fan@example.com", "x": 1}):
        response = await client.post(
            "/api/v1/erasures", json=body, headers=bearer(world.keys["rw"])
        )
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        fields = [error["field"] for error in response.json()["errors"]]
        assert fields == (["x"] if "x" in body else ["email"]), response.json()
    assert len(await _live_emails(session)) == 2


async def test_erasure_needs_the_scope_of_delete(client: httpx.AsyncClient, world: World) -> None:
    body = {"email": "fan@example.com"}
    read_only = await client.post("/api/v1/erasures", json=body, headers=bearer(world.keys["read"]))
    assert read_only.status_code == 403
    nobody = await client.post("/api/v1/erasures", json=body)
    assert nobody.status_code == 401


async def test_an_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = {**bearer(world.keys["rw"]), "Idempotency-Key": "forget-fan"}
    body = {"email": "fan@example.com"}
    first = await client.post("/api/v1/erasures", json=body, headers=headers)
    replay = await client.post("/api/v1/erasures", json=body, headers=headers)
    assert first.json() == replay.json() == {"erased": 1}
    assert replay.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/api/v1/erasures", json={"email": "other@example.com"}, headers=headers
    )
    assert other.status_code == 422
