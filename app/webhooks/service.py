"""Managing webhook endpoints: create (the secret is returned once), list, change, delete,
rotate the secret, read the delivery log, redeliver an event, and ping.

An endpoint belongs to the handles of the key that created it (none: all handles). A key
restricted to handles sees only endpoints restricted to handles it has; anything else is a
404, exactly like an endpoint that does not exist. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.delivery.models import OutboxKind, OutboxMessage, OutboxStatus
from app.external_urls import check_external_url
from app.handles.models import Handle
from app.handles.visibility import sees_all
from app.pagination import CursorCodec
from app.webhooks import events
from app.webhooks.exceptions import (
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    InvalidWebhookUrl,
    PayloadGone,
    TooManyEndpoints,
)
from app.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import DeliveryRead, WebhookRead, WebhookUpdate
from app.webhooks.signing import SecretCipher, new_secret
from app.webhooks.targets import TargetRefused, resolve_target

__all__ = [
    "MAX_ENDPOINTS",
    "ROTATION_OVERLAP",
    "DeliveryPage",
    "EndpointPage",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "endpoint_reads",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "parse_id",
    "ping",
    "redeliver",
    "rotate_secret",
    "update_endpoint",
]

MAX_ENDPOINTS = 100
ROTATION_OVERLAP = timedelta(hours=24)
BY_ENDPOINT = "webhooks"
BY_DELIVERY = "webhook-deliveries"
DISABLED_BY_API = "disabled through the API"


@dataclass(frozen=True, slots=True)
class EndpointPage:
    items: list[WebhookRead]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[DeliveryRead]
    next_cursor: str | None


def parse_id(raw: str, not_found: type[Exception] = EndpointNotFound) -> int:
    """An id from a URL; anything that is not one is a 404 like an unknown id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise not_found
    return int(raw)


async def check_url(url: str, *, allow_private: bool) -> None:
    """`InvalidWebhookUrl` (422 naming `url`) unless webhooks may be sent to `url`.

    The host is resolved and its addresses checked; when private addresses are allowed there
    is nothing to refuse, so only the URL's form is checked (no DNS lookup on the request).
    """
    if allow_private:
        problem = check_external_url(url)
        if problem is not None:
            raise InvalidWebhookUrl(problem)
        return
    try:
        await resolve_target(url, allow_private=False)
    except TargetRefused as exc:
        raise InvalidWebhookUrl(str(exc)) from exc


async def _handle_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Handle.id, Handle.name).where(Handle.id.in_(wanted)))
    return {row.id: row.name for row in rows}


async def endpoint_reads(
    session: AsyncSession, endpoints: Sequence[WebhookEndpoint]
) -> list[WebhookRead]:
    names = await _handle_names(session, (i for e in endpoints for i in e.handle_ids or ()))
    return [WebhookRead.from_row(endpoint, names) for endpoint in endpoints]


async def create_endpoint(
    session: AsyncSession,
    *,
    url: str,
    event_types: Sequence[str],
    description: str,
    visible: frozenset[int] | None,
    cipher: SecretCipher,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new active endpoint and its signing secret (kept encrypted; shown to the caller once)."""
    await check_url(url, allow_private=allow_private)
    count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
    if (count or 0) >= MAX_ENDPOINTS:
        raise TooManyEndpoints(MAX_ENDPOINTS)
    secret = new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        events=list(dict.fromkeys(event_types)),
        secret=cipher.encrypt(secret),
        status=EndpointStatus.ACTIVE.value,
        handle_ids=sorted(visible) if visible is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def list_endpoints(
    session: AsyncSession,
    *,
    visible: frozenset[int] | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> EndpointPage:
    """Keyset pages of the endpoints the caller sees, in creation order (at most
    `MAX_ENDPOINTS` exist, so visibility is decided here rather than in SQL)."""
    after = int(codec.decode(cursor, BY_ENDPOINT, 1)[0]) if cursor else 0
    rows = await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id > after).order_by(WebhookEndpoint.id)
    )
    seen = [endpoint for endpoint in rows if sees_all(visible, endpoint.handle_ids)]
    page = seen[:limit]
    more = len(seen) > limit
    next_cursor = codec.encode(BY_ENDPOINT, [page[-1].id]) if more else None
    return EndpointPage(await endpoint_reads(session, page), next_cursor)


async def get_endpoint(
    session: AsyncSession, endpoint_id: int, visible: frozenset[int] | None
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not sees_all(visible, endpoint.handle_ids):
        raise EndpointNotFound
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: int,
    change: WebhookUpdate,
    *,
    visible: frozenset[int] | None,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, endpoint_id, visible)
    if change.url is not None and change.url != endpoint.url:
        await check_url(change.url, allow_private=allow_private)
        endpoint.url = change.url
    if change.events is not None:
        endpoint.events = list(dict.fromkeys(change.events))
    if change.description is not None:
        endpoint.description = change.description
    if change.status == EndpointStatus.ACTIVE.value:
        endpoint.status = EndpointStatus.ACTIVE.value
        endpoint.disabled_reason = None
    elif change.status == EndpointStatus.DISABLED.value:
        endpoint.status = EndpointStatus.DISABLED.value
        endpoint.disabled_reason = DISABLED_BY_API
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


async def delete_endpoint(
    session: AsyncSession, endpoint_id: int, visible: frozenset[int] | None
) -> None:
    """Delete the endpoint, its delivery log, and the messages still waiting to be sent to it."""
    endpoint = await get_endpoint(session, endpoint_id, visible)
    waiting = select(WebhookDelivery.outbox_message_id).where(
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.status == DeliveryStatus.PENDING.value,
        WebhookDelivery.outbox_message_id.is_not(None),
    )
    await session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.id.in_(waiting),
            OutboxMessage.kind == OutboxKind.WEBHOOK.value,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .execution_options(synchronize_session=False)
    )
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession,
    endpoint_id: int,
    *,
    visible: frozenset[int] | None,
    cipher: SecretCipher,
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret; the current one keeps signing for `ROTATION_OVERLAP`. A second
    rotation within that time drops the oldest secret."""
    endpoint = await get_endpoint(session, endpoint_id, visible)
    secret = new_secret()
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = cipher.encrypt(secret)
    endpoint.updated_at = now
    await session.flush()
    return endpoint, secret


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: int,
    *,
    visible: frozenset[int] | None,
    status: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    """Keyset pages of an endpoint's delivery log, newest first."""
    endpoint = await get_endpoint(session, endpoint_id, visible)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        before = int(codec.decode(cursor, BY_DELIVERY, 1)[0])
        query = query.where(WebhookDelivery.id < before)
    rows = list(await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = codec.encode(BY_DELIVERY, [page[-1].id]) if len(rows) > limit else None
    return DeliveryPage([DeliveryRead.from_row(row) for row in page], next_cursor)


async def _active(
    session: AsyncSession, endpoint_id: int, visible: frozenset[int] | None
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, endpoint_id, visible)
    if endpoint.status == EndpointStatus.DISABLED.value:
        raise EndpointDisabled
    return endpoint


async def redeliver(
    session: AsyncSession,
    endpoint_id: int,
    delivery_id: int,
    *,
    visible: frozenset[int] | None,
) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same event id (the body is
    the original one, read back from its outbox message)."""
    endpoint = await _active(session, endpoint_id, visible)
    original = await session.get(WebhookDelivery, delivery_id)
    if original is None or original.endpoint_id != endpoint.id:
        raise DeliveryNotFound
    message = (
        await session.get(OutboxMessage, original.outbox_message_id)
        if original.outbox_message_id is not None
        else None
    )
    # A deleted message's id may have been reused (SQLite): the payload must name this delivery.
    if message is None or message.payload.get("delivery_id") != original.id:
        raise PayloadGone
    event = events.Event(
        id=original.event_id, type=original.event_type, body=message.payload["body"]
    )
    return await events.queue_delivery(session, endpoint, event, lead_id=original.lead_id)


async def ping(
    session: AsyncSession, endpoint_id: int, *, visible: frozenset[int] | None
) -> WebhookDelivery:
    """Queue a `ping` event, signed and delivered like every other event."""
    endpoint = await _active(session, endpoint_id, visible)
    event = events.new_event(
        events.PING,
        {"endpoint_id": str(endpoint.id), "message": "Hello from leadlink: webhooks work."},
    )
    return await events.queue_delivery(session, endpoint, event, lead_id=None)
