"""A person's rights over their data: everything held about one email address (export: the
leads, their consent ledgers and the shop's sales), and erasure of a lead.

Erasure blanks the personal data and keeps the row, so counts and reports do not change: the
address becomes `erased-<id>@invalid`, name, custom fields and the visit link are dropped, the
consent ledger keeps its rows (the consent text is the page's, not the person's), the person is
removed at every email tool that received the lead (`app.leads.email_tools.forget_lead`), the
shop's sales of the person are deleted (those that made the lead a customer, and those with the
address on connections in sight; the connection's event log keeps only event ids), and every
outbox message of the lead (rendered emails, webhook payloads) and every stored API response
holding its data is deleted. On SQLite the write-ahead log is emptied after the commit and freed
bytes are zeroed (`secure_delete`), so no database file keeps the old address.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import sales
from app.db import checkpoint_after_commit, utcnow
from app.delivery import service as delivery
from app.email_tools import service as email_tools_sync
from app.errors import FieldError, ValidationFailed
from app.idempotency import service as idempotency
from app.leads import email_tools, events, queries
from app.leads.models import Lead
from app.leads.schemas import (
    ConsentEventRead,
    LeadRead,
    PersonEmailTool,
    PersonExport,
    PersonLead,
    PersonSale,
)

__all__ = ["erase_lead", "erase_person", "erased_email", "export_person", "normalize_email"]

ADDRESS_SHAPE = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")


def erased_email(lead_id: int) -> str:
    # `.invalid` is reserved (RFC 2606): the placeholder can never reach anyone.
    return f"erased-{lead_id}@invalid"


def normalize_email(raw: str) -> str:
    """The address as leads store it (the form's normalisation), or a 422 naming `email`.

    An address the form would refuse only for its domain (`.test`, `.invalid`, …) is still a
    fair question: it is looked up as typed and simply finds nothing.
    """
    address = raw.strip()
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        if ADDRESS_SHAPE.fullmatch(address):
            return address.lower()
        message = f"This email address is not valid: {exc}"
        raise ValidationFailed(message, errors=[FieldError("email", message)]) from exc


async def export_person(
    session: AsyncSession, email: str, *, visible: frozenset[int] | None
) -> PersonExport:
    """Every lead with this address (on the pages the key can see) and its consent ledger."""
    address = normalize_email(email)
    rows = await queries.leads_with_email(session, address, visible)
    ledger = await queries.consent_ledger(session, [row.lead.id for row in rows])
    bought = await sales.sales_of_buyer(
        session, email=address, lead_ids=[row.lead.id for row in rows], sight=visible
    )
    sent = await email_tools_sync.syncs_of_leads(session, [row.lead.id for row in rows])
    return PersonExport(
        email=address,
        leads=[
            PersonLead(
                **LeadRead.from_row(row).model_dump(),
                unsubscribed_at=row.lead.unsubscribed_at,
                customer_at=row.lead.customer_at,
                consent=[
                    ConsentEventRead.model_validate(event, from_attributes=True)
                    for event in ledger[row.lead.id]
                ],
            )
            for row in rows
        ],
        sales=[
            PersonSale(
                provider=sale.provider,
                amount=format(sale.amount, "f"),
                currency=sale.currency,
                lead_id=str(sale.lead_id) if sale.lead_id is not None else None,
                occurred_at=sale.occurred_at,
            )
            for sale in bought
        ],
        email_tools=[
            PersonEmailTool(
                provider=provider,
                lead_id=str(sync.lead_id),
                action=sync.action,
                state=sync.state,
                synced_at=sync.synced_at,
            )
            for provider, sync in sent
        ],
    )


async def erase_lead(
    session: AsyncSession, lead_id: int, *, visible: frozenset[int] | None
) -> Lead:
    """Erase the lead's personal data for good (see the module docstring); `LeadNotFound` for
    a lead that is unknown, out of sight or erased already."""
    lead = (await queries.get_lead(session, lead_id, visible, for_update=True)).lead
    await sales.forget_buyer(session, email=lead.email, lead_ids=[lead.id], sight=visible)
    # Queued while the address is known; the message is scrubbed once the tool is told.
    await email_tools.forget_lead(session, lead)
    now = utcnow()
    lead.email = erased_email(lead.id)
    lead.name = None
    lead.fields = {}
    lead.visit_ref = None
    lead.erased_at = now
    lead.updated_at = now
    await session.flush()
    checkpoint_after_commit(session)  # no copy left in SQLite's write-ahead log
    await delivery.forget_lead(session, lead.id)
    await idempotency.forget_lead(session, lead.id)
    # Last, so the event's payload is built from the blanked row and is not deleted above.
    await events.announce(session, "lead.erased", lead)
    return lead


async def erase_person(session: AsyncSession, email: str, *, visible: frozenset[int] | None) -> int:
    """Erase every lead with this address on the handles in sight; how many were erased.

    Idempotent: a second call finds nothing left (erased addresses no longer match) and
    answers 0. An address that is not one is a `ValidationFailed` naming `email`.
    """
    address = normalize_email(email)
    rows = await queries.leads_with_email(session, address, visible)
    for row in rows:
        await erase_lead(session, row.lead.id, visible=visible)
    # A buyer who never became a lead still has sales with this address.
    if await sales.forget_buyer(session, email=address, lead_ids=(), sight=visible):
        checkpoint_after_commit(session)
    return len(rows)
