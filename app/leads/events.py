"""What leads announce to webhooks and email tools: the event types of a lead's life and the
payload of each, queued in the transaction that makes the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app.leads import email_tools
from app.leads.models import Lead
from app.leads.queries import row_of
from app.leads.schemas import LeadRead
from app.webhooks import events as webhooks_events

__all__ = ["announce"]


async def announce(session: AsyncSession, event_type: str, lead: Lead) -> None:
    """Queue `event_type` about `lead` for every endpoint that wants it; `lead.erased` carries
    only the lead's id, every other event the lead as the API reads it. The email tools of the
    lead's handle learn of the change too (an erasure reaches them earlier, through
    `app.leads.email_tools.forget_lead`, while the address is still known)."""

    async def payload() -> dict[str, Any]:
        if event_type == "lead.erased":
            return {"id": str(lead.id)}
        if inspect(lead).expired_attributes:
            await session.refresh(lead)
        return LeadRead.from_row(await row_of(session, lead)).model_dump(mode="json")

    await webhooks_events.emit(
        session, event_type, handle_id=lead.handle_id, lead_id=lead.id, payload=payload
    )
    if event_type != "lead.erased":
        await email_tools.lead_changed(session, lead)
