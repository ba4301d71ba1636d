"""Signed shop webhooks built with each provider's documented scheme, and connections made
by the service with the tests' secret key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import service as connections
from app.connections.crypto import cipher_for
from app.connections.models import Connection
from app.leads.models import Lead
from tests.databases import TEST_SECRET

STRIPE_SECRET = "whsec_" + "s3cr3t" * 6
SHOPIFY_SECRET = "shpss_" + "k" * 32


async def add_connection(
    session: AsyncSession,
    provider: str,
    *,
    handles: frozenset[int] | None,
    secret: str | None = None,
    options: dict[str, Any] | None = None,
    key: str = TEST_SECRET,
) -> tuple[Connection, str | None]:
    """A connection as the admin creates it (committed), and the secret leadlink made."""
    connection, made = await connections.create_connection(
        session,
        provider=provider,
        label="test",
        handle_ids=handles,
        secret=secret,
        options=options or {},
        created_by=None,
        cipher=cipher_for(key),
    )
    await session.commit()
    # Detached with its values loaded: tests expire the session to read what requests wrote.
    session.expunge(connection)
    return connection, made


async def reloaded_lead(session: AsyncSession, lead_id: int) -> Lead:
    """The lead as the requests left it."""
    session.expire_all()
    lead = await session.get(Lead, lead_id)
    assert lead is not None
    return lead


async def count_rows(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def hook_path(connection: Connection) -> str:
    return f"/hooks/{connection.provider}/{connection.public_id}"


def checkout_event(
    event_id: str,
    email: str,
    amount_total: int,
    currency: str = "eur",
    *,
    event_type: str = "checkout.session.completed",
    payment_status: str = "paid",
) -> bytes:
    """A Stripe event as Stripe sends it (the fields leadlink reads, and some it does not)."""
    event = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": "cs_test_" + event_id,
                "object": "checkout.session",
                "amount_subtotal": amount_total,
                "amount_total": amount_total,
                "currency": currency,
                "customer_details": {"email": email, "name": "Fan"},
                "customer_email": None,
                "mode": "payment",
                "payment_status": payment_status,
                "status": "complete",
            }
        },
    }
    return json.dumps(event).encode()


def stripe_header(body: bytes, secrets: list[str], *, timestamp: int | None = None) -> str:
    """`Stripe-Signature: t=…,v1=…`: HMAC-SHA256 of "{t}.{body}", one v1 per secret."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    parts = [f"t={t}"]
    parts += [
        "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets
    ]
    return ",".join(parts)


async def post_stripe(
    client: httpx.AsyncClient,
    connection: Connection,
    body: bytes,
    *,
    secrets: list[str] | None = None,
    timestamp: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    signature = (
        header
        if header is not None
        else stripe_header(body, secrets or [STRIPE_SECRET], timestamp=timestamp)
    )
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    return await client.post(hook_path(connection), content=body, headers=headers)


def order(order_id: int, email: str, total: str, currency: str = "EUR") -> bytes:
    """A Shopify order as `orders/create` sends it."""
    return json.dumps(
        {
            "id": order_id,
            "email": email,
            "created_at": "2026-12-06T10:00:00-05:00",
            "currency": currency,
            "financial_status": "paid",
            "total_price": total,
            "line_items": [{"title": "Guide", "price": total, "quantity": 1}],
        }
    ).encode()


async def post_shopify(
    client: httpx.AsyncClient,
    connection: Connection,
    body: bytes,
    *,
    event_id: str,
    secret: str = SHOPIFY_SECRET,
    topic: str = "orders/create",
) -> httpx.Response:
    """`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body under the secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": "delivery-" + event_id,
        "X-Shopify-Shop-Domain": "anna.myshopify.com",
    }
    return await client.post(hook_path(connection), content=body, headers=headers)


async def post_gumroad(
    client: httpx.AsyncClient,
    connection: Connection,
    key: str | None,
    **fields: str,
) -> httpx.Response:
    """A Gumroad ping: a form POST to the URL the seller pasted (with its `?key=`)."""
    form = {
        "sale_id": "sale_1",
        "sale_timestamp": "2026-12-06T10:00:00Z",
        "seller_id": "seller-anna",
        "product_id": "prod==",
        "product_name": "Guide",
        "email": "fan@example.com",
        "price": "1500",
        "currency": "usd",
        "quantity": "1",
        "refunded": "false",
        "test": "false",
        **fields,
    }
    query = f"?{urlencode({'key': key})}" if key is not None else ""
    return await client.post(
        hook_path(connection) + query,
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
