"""Shopify's `orders/create` (HMAC of the raw body, idempotent by X-Shopify-Event-Id) and
Gumroad's ping (no signature: a key in the URL, and the seller id when given) make buyers
customers as Stripe's checkout does."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import ConnectionEvent, Sale
from tests.factories import World
from tests.shop.shop_helpers import (
    SHOPIFY_SECRET,
    add_connection,
    count_rows,
    order,
    post_gumroad,
    post_shopify,
    reloaded_lead,
)


async def test_a_paid_shopify_order_makes_the_buyer_a_customer_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "shopify", handles=frozenset({world.anna.id}), secret=SHOPIFY_SECRET
    )
    body = order(820982911946154508, "fan@example.com", "39.90")

    first = await post_shopify(client, connection, body, event_id="ev-1")
    retry = await post_shopify(client, connection, body, event_id="ev-1")
    second = await post_shopify(
        client, connection, order(820982911946154509, "FAN@example.com", "10.10"), event_id="ev-2"
    )

    assert [r.json()["outcome"] for r in (first, retry, second)] == [
        "customer",
        "duplicate",
        "customer",
    ]
    lead = await reloaded_lead(session, world.anna_lead.id)
    assert (lead.status, lead.customer_value, lead.customer_currency) == (
        "customer",
        Decimal("50.00"),
        "EUR",
    )
    assert await count_rows(session, Sale) == 2


async def test_a_bad_shopify_hmac_is_400_and_nothing_is_recorded(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "shopify", handles=frozenset({world.anna.id}), secret=SHOPIFY_SECRET
    )
    body = order(1, "fan@example.com", "39.90")

    forged = await post_shopify(client, connection, body, event_id="ev-1", secret="wrong")
    unsigned = await client.post(
        f"/hooks/shopify/{connection.public_id}",
        content=body,
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "ev-1"},
    )

    assert (forged.status_code, unsigned.status_code) == (400, 400)
    assert await count_rows(session, ConnectionEvent) == 0
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"


async def test_other_shopify_topics_and_unpaid_orders_are_ignored(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "shopify", handles=frozenset({world.anna.id}), secret=SHOPIFY_SECRET
    )
    pending = order(2, "fan@example.com", "39.90").replace(b'"paid"', b'"pending"')

    other_topic = await post_shopify(
        client,
        connection,
        order(1, "fan@example.com", "1.00"),
        event_id="a",
        topic="orders/updated",
    )
    unpaid = await post_shopify(client, connection, pending, event_id="b")

    assert [other_topic.json()["outcome"], unpaid.json()["outcome"]] == ["ignored", "ignored"]
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"


async def test_a_gumroad_ping_with_the_urls_key_makes_a_customer_in_usd(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, key = await add_connection(
        session, "gumroad", handles=frozenset({world.anna.id}), options={"seller_id": "seller-anna"}
    )
    assert key is not None

    first = await post_gumroad(client, connection, key, sale_id="s1", price="1500")
    retry = await post_gumroad(client, connection, key, sale_id="s1", price="1500")

    assert [first.json()["outcome"], retry.json()["outcome"]] == ["customer", "duplicate"]
    lead = await reloaded_lead(session, world.anna_lead.id)
    assert (lead.customer_value, lead.customer_currency) == (Decimal("15.00"), "USD")


async def test_a_gumroad_ping_without_the_key_or_from_another_seller_is_400(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, key = await add_connection(
        session, "gumroad", handles=frozenset({world.anna.id}), options={"seller_id": "seller-anna"}
    )
    assert key is not None

    answers = [
        await post_gumroad(client, connection, None),
        await post_gumroad(client, connection, "not-the-key"),
        await post_gumroad(client, connection, key, seller_id="seller-mallory"),
    ]

    assert [r.status_code for r in answers] == [400, 400, 400]
    assert await count_rows(session, ConnectionEvent) == 0
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"


async def test_gumroad_test_refunded_and_gift_pings_are_not_sales(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, key = await add_connection(session, "gumroad", handles=frozenset({world.anna.id}))
    assert key is not None

    outcomes = [
        (await post_gumroad(client, connection, key, sale_id=sale, **flag)).json()["outcome"]
        for sale, flag in (
            ("t", {"test": "true"}),
            ("r", {"refunded": "true"}),
            ("g", {"is_gift_receiver_purchase": "true"}),
            ("f", {"price": "0"}),
        )
    ]

    assert outcomes == ["ignored"] * 4
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"
    assert await count_rows(session, Sale) == 0
