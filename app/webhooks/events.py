"""The one place events reach webhooks: `emit(session, event_type, …)` queues a delivery for
every endpoint that wants the event (leads call it through `app.leads.events.announce`).

Every change of a lead calls `emit` inside the transaction that makes the change, so an event
is queued (in the outbox) exactly when the change commits: a rolled-back change sends nothing,
a committed one is delivered at least once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.delivery import service as delivery
from app.delivery.models import OutboxKind, OutboxMessage
from app.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint

__all__ = [
    "API_VERSION",
    "EVENT_TYPES",
    "PING",
    "Event",
    "any_endpoint",
    "emit",
    "new_event",
    "queue_delivery",
    "subscribes",
]

API_VERSION: Final = "2026-11-22"
EVENT_TYPES: Final = (
    "lead.created",
    "lead.confirmed",
    "lead.unsubscribed",
    "lead.updated",
    "lead.erased",
)
PING: Final = "ping"
ERASED_BEFORE_DELIVERY = "cancelled: the lead was erased before this event was delivered"


@dataclass(frozen=True, slots=True)
class Event:
    """An envelope, serialised once: `body` is exactly what is signed and sent."""

    id: str
    type: str
    body: str


def new_event(event_type: str, data: dict[str, Any], *, now: datetime | None = None) -> Event:
    event_id = "evt_" + uuid.uuid4().hex
    created_at = (now or utcnow()).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at,
        "api_version": API_VERSION,
        "data": data,
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    return Event(id=event_id, type=event_type, body=body)


def subscribes(endpoint: WebhookEndpoint, event_type: str, handle_id: int) -> bool:
    """Whether `endpoint` wants `event_type` about a lead of `handle_id`."""
    if endpoint.status == EndpointStatus.DISABLED.value:
        return False
    if endpoint.events and event_type not in endpoint.events:
        return False
    return endpoint.handle_ids is None or handle_id in endpoint.handle_ids


async def queue_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, event: Event, *, lead_id: int | None
) -> WebhookDelivery:
    """Log a delivery of `event` to `endpoint` and put it in the outbox (caller's transaction)."""
    logged = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=event.type,
        lead_id=lead_id,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(logged)
    await session.flush()
    payload = {
        "delivery_id": logged.id,
        "endpoint_id": endpoint.id,
        "event_id": event.id,
        "event_type": event.type,
        "body": event.body,
    }
    # `lead_id` ties the payload to the person: erasure deletes it with the lead's emails.
    message = await delivery.enqueue(session, OutboxKind.WEBHOOK, payload, lead_id=lead_id)
    logged.outbox_message_id = message.id
    await session.flush()
    return logged


async def _forget_erased(session: AsyncSession, lead_id: int) -> None:
    """Erasure: what receivers answered about the lead may quote it, so it goes; deliveries
    whose payload erasure deleted can never be sent, and say so."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.lead_id == lead_id)
        .values(response_body=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.lead_id == lead_id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            ~exists().where(OutboxMessage.id == WebhookDelivery.outbox_message_id),
        )
        # The message id may be reused by a later message (SQLite reuses the highest rowid).
        .values(
            status=DeliveryStatus.FAILED.value,
            last_error=ERASED_BEFORE_DELIVERY,
            outbox_message_id=None,
        )
        .execution_options(synchronize_session=False)
    )


async def any_endpoint(session: AsyncSession) -> bool:
    """Whether any endpoint could want an event: lets a batch of new leads skip `emit`."""
    found = await session.scalar(
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.status != EndpointStatus.DISABLED.value)
        .limit(1)
    )
    return found is not None


async def emit(
    session: AsyncSession,
    event_type: str,
    *,
    handle_id: int,
    lead_id: int,
    payload: Callable[[], Awaitable[dict[str, Any]]],
) -> None:
    """Queue `event_type` about the lead `lead_id` of `handle_id` for every endpoint subscribed
    to it and allowed to see that handle. `payload` builds the event's data, only when some
    endpoint wants it."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    await session.flush()
    if event_type == "lead.erased":
        await _forget_erased(session, lead_id)
    endpoints = [
        endpoint
        for endpoint in await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.status != EndpointStatus.DISABLED.value)
            .order_by(WebhookEndpoint.id)
        )
        if subscribes(endpoint, event_type, handle_id)
    ]
    if not endpoints:
        return
    event = new_event(event_type, await payload())
    for endpoint in endpoints:
        await queue_delivery(session, endpoint, event, lead_id=lead_id)
