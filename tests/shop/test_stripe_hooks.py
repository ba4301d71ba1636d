"""Stripe's signed `checkout.session.completed` makes the buyer's newest lead a customer with
the amount paid: signatures and timestamps checked as Stripe documents them, repeat purchases
summed, retries changing nothing, and buyers without a lead counted in the report."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionEvent, Sale
from app.delivery.models import OutboxMessage
from app.webhooks.models import WebhookDelivery
from tests.factories import World, add_endpoint, add_lead, add_page, bearer
from tests.shop.shop_helpers import (
    STRIPE_SECRET,
    add_connection,
    checkout_event,
    count_rows,
    hook_path,
    post_stripe,
    reloaded_lead,
    stripe_header,
)


async def _stripe_on_anna(session: AsyncSession, world: World) -> Connection:
    connection, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    return connection


async def test_a_paid_checkout_makes_the_buyer_a_customer_with_the_amount(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    endpoint, _ = await add_endpoint(session, "https://crm.example/hooks", events=("lead.updated",))
    endpoint_id = endpoint.id
    await session.commit()
    connection = await _stripe_on_anna(session, world)

    body = checkout_event("evt_1", "Fan@Example.com", 4900, "eur")
    response = await post_stripe(client, connection, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "outcome": "customer"}
    lead = await reloaded_lead(session, world.anna_lead.id)
    assert lead.status == "customer"
    assert lead.customer_value == Decimal("49.00")
    assert lead.customer_currency == "EUR"
    assert lead.customer_at is not None
    # The CRM's change path: the same `lead.updated` event a PATCH queues.
    payloads = await session.scalars(
        select(OutboxMessage.payload)
        .join(WebhookDelivery, WebhookDelivery.outbox_message_id == OutboxMessage.id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    bodies = [json.loads(payload["body"]) for payload in payloads]
    assert [(b["type"], b["data"]["status"], b["data"]["customer_value"]) for b in bodies] == [
        ("lead.updated", "customer", "49.00")
    ]
    sale = (await session.scalars(select(Sale))).one()
    assert (sale.email, sale.amount, sale.currency, sale.lead_id) == (
        "fan@example.com",
        Decimal("49.00"),
        "EUR",
        world.anna_lead.id,
    )
    event = (await session.scalars(select(ConnectionEvent))).one()
    assert (event.provider_event_id, event.event_type, event.outcome) == (
        "evt_1",
        "checkout.session.completed",
        "customer",
    )


async def test_the_newest_lead_with_the_address_is_the_one_marked(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    # The same address on another page of anna's, signed up later.
    page = await add_page(session, world.anna, "anna-second")
    newest = await add_lead(session, page, "fan@example.com")
    await session.commit()
    connection = await _stripe_on_anna(session, world)

    response = await post_stripe(
        client, connection, checkout_event("evt_n", "fan@example.com", 100)
    )

    assert response.json()["outcome"] == "customer"
    assert (await reloaded_lead(session, newest.id)).status == "customer"
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"


async def test_repeat_purchases_are_summed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)

    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900))
    await post_stripe(client, connection, checkout_event("evt_2", "fan@example.com", 1550))

    lead = await reloaded_lead(session, world.anna_lead.id)
    assert lead.customer_value == Decimal("64.50")
    assert await count_rows(session, Sale) == 2


async def test_a_replayed_event_answers_200_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)

    first = await post_stripe(client, connection, body)
    again = await post_stripe(client, connection, body)

    assert first.json()["outcome"] == "customer"
    assert again.status_code == 200
    assert again.json() == {"received": True, "outcome": "duplicate"}
    assert (await reloaded_lead(session, world.anna_lead.id)).customer_value == Decimal("49.00")
    assert await count_rows(session, Sale) == 1
    assert await count_rows(session, ConnectionEvent) == 1


async def test_a_purchase_in_another_currency_keeps_the_value_and_says_so(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)

    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900, "eur"))
    await post_stripe(client, connection, checkout_event("evt_2", "fan@example.com", 2000, "usd"))

    lead = await reloaded_lead(session, world.anna_lead.id)
    assert (lead.status, lead.customer_value, lead.customer_currency) == (
        "customer",
        Decimal("49.00"),
        "EUR",
    )
    second = await session.scalar(
        select(ConnectionEvent).where(ConnectionEvent.provider_event_id == "evt_2")
    )
    assert second is not None
    assert second.outcome == "customer"
    assert second.detail is not None
    assert "not added" in second.detail
    assert await count_rows(session, Sale) == 2


async def test_zero_decimal_currencies_are_not_divided(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)

    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 5000, "jpy"))

    lead = await reloaded_lead(session, world.anna_lead.id)
    assert (lead.customer_value, lead.customer_currency) == (Decimal("5000.00"), "JPY")


async def _nothing_recorded(session: AsyncSession, world: World) -> None:
    assert await count_rows(session, Sale) == 0
    assert await count_rows(session, ConnectionEvent) == 0
    assert (await reloaded_lead(session, world.anna_lead.id)).status == "confirmed"


async def test_a_bad_signature_is_400_and_nothing_is_recorded(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)

    forged = await post_stripe(client, connection, body, secrets=["whsec_" + "x" * 36])
    tampered = await post_stripe(
        client,
        connection,
        body.replace(b"4900", b"9900"),
        header=(await _signed_header_of(body)),
    )

    for response in (forged, tampered):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "signature" in response.json()["detail"]
    await _nothing_recorded(session, world)


async def _signed_header_of(body: bytes) -> str:
    return stripe_header(body, [STRIPE_SECRET])


async def test_a_missing_or_malformed_signature_header_is_400(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)

    for header in ("", "v1=abc", f"t={int(time.time())}", "garbage"):
        response = await post_stripe(client, connection, body, header=header)
        assert response.status_code == 400, header
    await _nothing_recorded(session, world)


async def test_an_expired_timestamp_is_400_even_when_signed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)

    old = await post_stripe(client, connection, body, timestamp=int(time.time()) - 301)
    future = await post_stripe(client, connection, body, timestamp=int(time.time()) + 400)

    assert old.status_code == 400
    assert "300 seconds" in old.json()["detail"]
    assert future.status_code == 400
    await _nothing_recorded(session, world)


async def test_one_matching_signature_of_several_is_enough(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """While a secret is rolled, Stripe signs with the old and the new one."""
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)

    response = await post_stripe(
        client, connection, body, secrets=["whsec_" + "o" * 36, STRIPE_SECRET]
    )

    assert response.json()["outcome"] == "customer"


async def test_an_unknown_buyer_is_a_sale_without_a_lead_in_the_report(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)

    response = await post_stripe(
        client, connection, checkout_event("evt_1", "stranger@example.com", 2500)
    )
    await post_stripe(client, connection, checkout_event("evt_2", "Stranger@example.com", 100))

    assert response.json()["outcome"] == "unmatched"
    sales = (await session.scalars(select(Sale).order_by(Sale.id))).all()
    assert [(s.email, s.lead_id) for s in sales] == [("stranger@example.com", None)] * 2
    report = await client.get("/api/v1/reports/conversion", headers=bearer(world.keys["reports"]))
    assert report.status_code == 200, report.text
    assert report.json()["customers_without_lead"] == 1  # one buyer, two purchases
    for_anna = await client.get(
        "/api/v1/reports/conversion",
        params={"handle": "anna"},
        headers=bearer(world.keys["reports"]),
    )
    assert for_anna.json()["customers_without_lead"] == 1
    for_bob = await client.get(
        "/api/v1/reports/conversion",
        params={"handle": "bob"},
        headers=bearer(world.keys["reports"]),
    )
    assert for_bob.json()["customers_without_lead"] == 0


async def test_a_connection_of_one_handle_never_marks_another_handles_lead(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)

    # other@example.com is bob's lead only.
    response = await post_stripe(
        client, connection, checkout_event("evt_1", "other@example.com", 4900)
    )

    assert response.json()["outcome"] == "unmatched"
    assert (await reloaded_lead(session, world.bob_lead.id)).status == "confirmed"
    assert (await reloaded_lead(session, world.bob_lead.id)).customer_value is None


async def test_a_non_sale_or_unpaid_event_is_logged_as_ignored(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    refund = json.dumps(
        {"id": "evt_r", "type": "charge.refunded", "data": {"object": {"amount": 100}}}
    ).encode()
    unpaid = checkout_event("evt_u", "fan@example.com", 4900, payment_status="unpaid")
    paid_later = checkout_event(
        "evt_p",
        "fan@example.com",
        4900,
        event_type="checkout.session.async_payment_succeeded",
    )

    outcomes = [
        (await post_stripe(client, connection, body)).json()["outcome"]
        for body in (refund, unpaid, paid_later)
    ]

    assert outcomes == ["ignored", "ignored", "customer"]
    assert (await reloaded_lead(session, world.anna_lead.id)).customer_value == Decimal("49.00")


async def test_a_signed_body_without_an_email_is_logged_as_failed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    connection_id = connection.id
    body = checkout_event("evt_1", "", 4900)

    response = await post_stripe(client, connection, body)

    assert response.status_code == 200
    assert response.json()["outcome"] == "failed"
    session.expire_all()
    stored = await session.get(Connection, connection_id)
    assert stored is not None
    assert stored.status == "error"
    assert stored.last_error == "The sale has no buyer email."
    # The next good event clears it.
    await post_stripe(client, connection, checkout_event("evt_2", "fan@example.com", 100))
    session.expire_all()
    stored = await session.get(Connection, connection_id)
    assert stored is not None
    assert (stored.status, stored.last_error) == ("active", None)


async def test_a_signed_body_that_is_not_an_event_is_400_and_shown_on_the_connection(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    connection_id = connection.id

    response = await post_stripe(client, connection, b"[1, 2, 3]")

    assert response.status_code == 400
    session.expire_all()
    stored = await session.get(Connection, connection_id)
    assert stored is not None
    assert stored.status == "error"
    assert stored.last_error is not None
    assert "could not be read" in stored.last_error
    assert await count_rows(session, ConnectionEvent) == 0


async def test_unknown_disabled_or_other_providers_urls_are_404(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = checkout_event("evt_1", "fan@example.com", 4900)
    header = {"Stripe-Signature": (await _signed_header_of(body))}

    unknown = await client.post("/hooks/stripe/nope", content=body, headers=header)
    wrong = await client.post(
        f"/hooks/shopify/{connection.public_id}", content=body, headers=header
    )
    stored = await session.get(Connection, connection.id)
    assert stored is not None
    stored.status = "disabled"
    await session.commit()
    disabled = await post_stripe(client, connection, body)

    assert [r.status_code for r in (unknown, wrong, disabled)] == [404, 404, 404]
    await _nothing_recorded(session, world)


async def test_a_connection_without_its_secret_yet_answers_503_so_stripe_retries(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(session, "stripe", handles=frozenset({world.anna.id}))
    assert connection.status == "needs_reconnect"

    response = await post_stripe(client, connection, checkout_event("e", "fan@example.com", 1))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    await _nothing_recorded(session, world)


async def test_a_body_over_the_limit_is_413(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection = await _stripe_on_anna(session, world)
    body = b'{"id": "evt_big", "padding": "' + b"x" * (1024 * 1024) + b'"}'

    response = await client.post(
        hook_path(connection),
        content=body,
        headers={"Stripe-Signature": await _signed_header_of(body)},
    )

    assert response.status_code == 413
    await _nothing_recorded(session, world)
