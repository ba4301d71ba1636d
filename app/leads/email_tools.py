"""Leads as the email tools receive them: the `Contact` of a lead, the sync run on every change
of a lead (from `app.leads.events.announce`, in the change's transaction), the erasure's
removal at the tools, and the admin's "Send confirmed leads" (a backfill through the outbox).
The rules of who is sent are `app.email_tools.service`'s."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection
from app.connections.service import handle_ids_of
from app.email_tools import service as email_tools
from app.email_tools.contract import Contact
from app.handles.models import Handle
from app.leads.models import Lead, LeadStatus
from app.leads.queries import row_of
from app.pages.models import Page

__all__ = ["contact_of", "forget_lead", "lead_changed", "send_existing"]

BACKFILL_CHUNK = 500
SENT_STATES = (
    LeadStatus.CONFIRMED.value,
    LeadStatus.CUSTOMER.value,
    LeadStatus.UNSUBSCRIBED.value,
)


def _contact(lead: Lead, page_slug: str, handle_name: str) -> Contact:
    return Contact(
        email=lead.email,
        first_name=(lead.name or "").strip(),
        handle=handle_name,
        page=page_slug,
        source=lead.source or "",
        campaign=lead.campaign or "",
        newsletter=bool(lead.newsletter_consent),
        customer=lead.status == LeadStatus.CUSTOMER.value or lead.customer_at is not None,
    )


async def contact_of(session: AsyncSession, lead: Lead) -> Contact:
    row = await row_of(session, lead)
    return _contact(lead, row.page_slug, row.handle_name)


async def lead_changed(session: AsyncSession, lead: Lead) -> None:
    """Queue, for every email tool of the lead's handle, what the change means for it. A
    pending lead (the hot opt-in path) costs nothing here."""
    if lead.status not in SENT_STATES or lead.erased_at is not None:
        return
    connections = await email_tools.email_tool_connections(session, lead.handle_id)
    if not connections:
        return
    if inspect(lead).expired_attributes:
        await session.refresh(lead)
    contact = await contact_of(session, lead)
    for connection in connections:
        await email_tools.sync_lead(
            session, connection, lead_id=lead.id, status=lead.status, contact=contact
        )


async def forget_lead(session: AsyncSession, lead: Lead) -> int:
    """Erasure, before the address is blanked: the person is removed at every tool that got
    them (see `app.email_tools.service.erase_lead`)."""
    return await email_tools.erase_lead(session, lead_id=lead.id, email=lead.email)


async def send_existing(session: AsyncSession, connection: Connection) -> int:
    """Queue every lead of the connection's handles the tool should have and does not (new,
    changed, or failed before); idempotent: a second press queues nothing new. How many."""
    handle_ids = await handle_ids_of(session, connection.id)
    queued = 0
    after = 0
    while True:
        statement = (
            select(Lead, Page.slug, Handle.name)
            .join(Page, Page.id == Lead.page_id)
            .join(Handle, Handle.id == Lead.handle_id)
            .where(Lead.id > after, Lead.status.in_(SENT_STATES), Lead.erased_at.is_(None))
            .order_by(Lead.id)
            .limit(BACKFILL_CHUNK)
        )
        if handle_ids is not None:
            statement = statement.where(Lead.handle_id.in_(sorted(handle_ids)))
        rows = (await session.execute(statement)).all()
        for lead, slug, handle_name in rows:
            if await email_tools.sync_lead(
                session,
                connection,
                lead_id=lead.id,
                status=lead.status,
                contact=_contact(lead, slug, handle_name),
                retry_failed=True,
            ):
                queued += 1
        if len(rows) < BACKFILL_CHUNK:
            return queued
        after = rows[-1][0].id
