"""What a shop's (verified) webhook says: its event id and type, and the purchase in it, if
it is one: the buyer's address, the amount in major units and the currency.

Only paid purchases are sales. Everything else a shop may send (other event types, an unpaid
checkout, a test purchase, a refund) is read as "not a sale" with the reason, for the log.
Refunds are not subtracted (docs/integrations.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from app.db import utcnow

__all__ = [
    "MalformedEvent",
    "Purchase",
    "Received",
    "major_units",
    "read_gumroad",
    "read_shopify",
    "read_stripe",
]

# Stripe's amounts are in the currency's minor unit; these have none, or three decimals
# (docs.stripe.com/currencies). Three-decimal amounts are rounded to cents (leads keep two).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
STRIPE_SALES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
STRIPE_PAID = ("paid", "no_payment_required")
SHOPIFY_SALE = "orders/create"
SHOPIFY_PAID = ("paid", "partially_paid", "authorized")


class MalformedEvent(Exception):
    """A verified body that is not an event at all (no id, not JSON): nothing can be logged."""


@dataclass(frozen=True, slots=True)
class Purchase:
    email: str  # as the shop sent it; normalised when matched
    amount: Decimal
    currency: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Received:
    event_id: str
    event_type: str
    purchase: Purchase | None = None
    # Why it is not a sale (ignored), or why a sale could not be read (failed).
    note: str | None = None
    failed: bool = False


def major_units(minor: int, currency: str) -> Decimal:
    """A Stripe amount (minor units) in major units, to the cent."""
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    amount: Decimal = (Decimal(minor) / (10**exponent)).quantize(CENT, rounding=ROUND_HALF_UP)
    return amount


def _currency(value: object) -> str | None:
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()
    return None


def _when(value: object) -> datetime:
    """The shop's time of the sale (unix seconds or ISO 8601), else now."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value:
            moment = datetime.fromisoformat(value.replace(" UTC", "+00:00"))
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return utcnow()


def _sale(
    event_id: str, event_type: str, email: object, amount: Decimal | None, currency: str | None
) -> Received | tuple[str, Decimal, str]:
    if not isinstance(email, str) or not email.strip():
        return Received(event_id, event_type, note="The sale has no buyer email.", failed=True)
    if amount is None or currency is None:
        note = "The sale has no readable amount and currency."
        return Received(event_id, event_type, note=note, failed=True)
    if amount <= 0:
        return Received(event_id, event_type, note="Nothing was paid (amount 0).")
    if amount > MAX_AMOUNT:
        return Received(event_id, event_type, note="The amount is too large.", failed=True)
    return email.strip(), amount, currency


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent("The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise MalformedEvent("The body is not a JSON object.")
    return data


def read_stripe(body: bytes) -> Received:
    """A Stripe event: `checkout.session.completed` (paid) or
    `checkout.session.async_payment_succeeded` is a sale of `amount_total` to
    `customer_details.email`."""
    event = _json_object(body)
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise MalformedEvent("The body is not a Stripe event (no id or type).")
    if event_type not in STRIPE_SALES:
        return Received(event_id, event_type, note=f"Not a sale ({event_type}).")
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(session, dict):
        return Received(event_id, event_type, note="The event has no object.", failed=True)
    status = session.get("payment_status")
    if event_type == STRIPE_SALES[0] and status not in STRIPE_PAID:
        note = f"Not paid yet (payment_status {status}); counted when the payment succeeds."
        return Received(event_id, event_type, note=note)
    details = session.get("customer_details")
    email = details.get("email") if isinstance(details, dict) else None
    email = email or session.get("customer_email")
    currency = _currency(session.get("currency"))
    total = session.get("amount_total")
    amount = (
        major_units(total, currency)
        if isinstance(total, int) and not isinstance(total, bool) and currency
        else None
    )
    sale = _sale(event_id, event_type, email, amount, currency)
    if isinstance(sale, Received):
        return sale
    address, paid, code = sale
    return Received(
        event_id, event_type, Purchase(address, paid, code, _when(event.get("created")))
    )


def _decimal(value: object) -> Decimal | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_UP) if amount.is_finite() else None


def read_shopify(body: bytes, headers: Mapping[str, str]) -> Received:
    """A Shopify `orders/create` delivery: a paid (or authorised) order is a sale of
    `total_price` in `currency` to `email`. The event id is `X-Shopify-Event-Id` (or, from
    older deliveries, `X-Shopify-Webhook-Id`)."""
    order = _json_object(body)
    topic = headers.get("x-shopify-topic", "")
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    if not event_id:
        order_id = order.get("id")
        if not isinstance(order_id, int | str) or not str(order_id):
            raise MalformedEvent("The delivery has no X-Shopify-Event-Id and no order id.")
        event_id = f"{topic}:{order_id}"
    if topic != SHOPIFY_SALE:
        return Received(event_id, topic or "unknown", note=f"Not a sale ({topic or 'no topic'}).")
    status = order.get("financial_status")
    if status not in SHOPIFY_PAID:
        return Received(event_id, topic, note=f"Not paid when placed (financial_status {status}).")
    email = order.get("email") or order.get("contact_email")
    currency = _currency(order.get("currency"))
    sale = _sale(event_id, topic, email, _decimal(order.get("total_price")), currency)
    if isinstance(sale, Received):
        return sale
    address, paid, code = sale
    return Received(event_id, topic, Purchase(address, paid, code, _when(order.get("created_at"))))


def read_gumroad(form: Mapping[str, str]) -> Received:
    """A Gumroad ping: `sale_id`, `email`, `price` in USD cents. Test purchases, refunded
    sales and a gift's receiver (who paid nothing) are not sales; a resource-subscription ping
    of another resource neither."""
    event_id = form.get("sale_id", "")
    resource = form.get("resource_name", "sale")
    event_type = f"gumroad.{resource}"
    if not event_id:
        raise MalformedEvent("The ping has no sale_id.")
    if resource != "sale":
        return Received(event_id, event_type, note=f"Not a sale ({resource}).")
    for flag, reason in (
        ("test", "A test purchase."),
        ("refunded", "The sale was refunded."),
        ("is_gift_receiver_purchase", "A gift's receiver (the gifter paid)."),
    ):
        if form.get(flag, "").lower() == "true":
            return Received(event_id, event_type, note=reason)
    cents = form.get("price", "")
    amount = major_units(int(cents), "USD") if cents.isascii() and cents.isdigit() else None
    sale = _sale(event_id, event_type, form.get("email"), amount, "USD")
    if isinstance(sale, Received):
        return sale
    address, paid, code = sale
    return Received(
        event_id, event_type, Purchase(address, paid, code, _when(form.get("sale_timestamp")))
    )
