"""Taking in a verified sale: once per event id, matched to the newest lead with the buyer's
address on the connection's handles, which becomes a customer through the CRM's own change
(`app.leads.service.update_lead`, so `lead.updated` webhooks fire as for a PATCH).

The value is the sum of the buyer's purchases in the lead's currency. A purchase in another
currency still makes the lead a customer and is recorded as a sale with its own currency, but
is not added (there is no exchange rate offline); the log says so. Nothing here commits.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import sales
from app.connections import service as connections
from app.connections.models import Connection, ConnectionEvent, EventOutcome
from app.errors import ValidationFailed
from app.leads import queries as leads
from app.leads import service as lead_changes
from app.leads.models import Lead
from app.leads.privacy import normalize_email
from app.leads.schemas import LeadUpdate
from app.shop.events import MAX_AMOUNT, Purchase, Received

__all__ = ["Taken", "take_in"]


class Taken(StrEnum):
    """What a webhook's answer says became of it."""

    CUSTOMER = EventOutcome.CUSTOMER.value
    UNMATCHED = EventOutcome.UNMATCHED.value
    IGNORED = EventOutcome.IGNORED.value
    FAILED = EventOutcome.FAILED.value
    DUPLICATE = "duplicate"


async def _newest_lead(
    session: AsyncSession, email: str, handle_ids: frozenset[int] | None
) -> Lead | None:
    rows = await leads.leads_with_email(session, email, handle_ids)
    if not rows:
        return None
    return max((row.lead for row in rows), key=lambda lead: (lead.created_at, lead.id))


async def _make_customer(
    session: AsyncSession, lead_id: int, purchase: Purchase, handle_ids: frozenset[int] | None
) -> str | None:
    """Mark the lead a customer with the purchase added to its value; a note when the amount
    could not be added."""
    lead = (await leads.get_lead(session, lead_id, handle_ids, for_update=True)).lead
    note = None
    if lead.customer_currency in (None, purchase.currency):
        known = lead.customer_value if lead.customer_currency is not None else None
        total = (known or Decimal(0)) + purchase.amount
        if total > MAX_AMOUNT:
            change = LeadUpdate(status="customer")
            note = "The summed value would exceed the largest amount a lead keeps: not added."
        else:
            change = LeadUpdate(
                status="customer", value=format(total, "f"), currency=purchase.currency
            )
    else:
        change = LeadUpdate(status="customer")
        note = (
            f"Paid in {purchase.currency}; the lead's value is in {lead.customer_currency}: "
            "not added to it."
        )
    await lead_changes.update_lead(session, lead.id, change, visible=handle_ids)
    return note


async def _sale(
    session: AsyncSession,
    connection: Connection,
    event: ConnectionEvent,
    received: Received,
    purchase: Purchase,
) -> Taken:
    try:
        email = normalize_email(purchase.email)
    except ValidationFailed:
        await connections.note_event(
            session,
            connection,
            event,
            outcome=EventOutcome.FAILED,
            detail="The buyer's email is not an address.",
        )
        return Taken.FAILED
    handle_ids = await connections.handle_ids_of(session, connection.id)
    lead = await _newest_lead(session, email, handle_ids)
    note = await _make_customer(session, lead.id, purchase, handle_ids) if lead else None
    await sales.record_sale(
        session,
        connection,
        event_id=received.event_id,
        email=email,
        amount=purchase.amount,
        currency=purchase.currency,
        lead_id=lead.id if lead else None,
        occurred_at=purchase.occurred_at,
    )
    outcome = EventOutcome.CUSTOMER if lead else EventOutcome.UNMATCHED
    await connections.note_event(
        session,
        connection,
        event,
        outcome=outcome,
        lead_id=lead.id if lead else None,
        amount=purchase.amount,
        currency=purchase.currency,
        detail=note if lead else "No lead with this address on the connection's handles.",
    )
    return Taken(outcome.value)


async def take_in(session: AsyncSession, connection: Connection, received: Received) -> Taken:
    """Record a verified event once and act on it; a retry of it changes nothing."""
    event = await connections.claim_event(
        session, connection, received.event_id, received.event_type
    )
    if event is None:
        return Taken.DUPLICATE
    if received.purchase is not None:
        return await _sale(session, connection, event, received, received.purchase)
    outcome = EventOutcome.FAILED if received.failed else EventOutcome.IGNORED
    await connections.note_event(session, connection, event, outcome=outcome, detail=received.note)
    return Taken(outcome.value)
