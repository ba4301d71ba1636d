"""Builders of the email-tool tests: connections made by the service as the admin makes them,
leads signed up and confirmed through the real opt-in, and reads of what leadlink kept."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections import service as connections
from app.connections.models import Connection, ConnectionEvent
from app.db import utcnow
from app.delivery.models import OutboxMessage
from app.email_tools import service as email_tools
from app.email_tools.models import EmailToolSync
from app.handles.models import Handle
from app.leads import service as leads
from app.leads.models import Lead
from app.pages.models import Page
from tests.factories import add_handle, add_page, opt_in_form
from tests.webhooks.webhook_helpers import lead_links

KEYS = {
    "mailchimp": "0123456789abcdef0123456789abcdef-us21",
    "kit": "kit_0123456789abcdef0123456789",
    "brevo": "xkeysib-0123456789abcdef0123456789abcdef-AbCdEf",
}
LIST_IDS = {"mailchimp": "a1b2c3d4e5", "kit": "", "brevo": "7"}
PROVIDERS = tuple(KEYS)


async def connect(
    session: AsyncSession,
    settings: Settings,
    provider: str,
    handles: list[Handle] | None = None,
    *,
    gift_list: bool = False,
    key: str | None = None,
    tags: str = "",
) -> Connection:
    """An email-tool connection, committed."""
    options = email_tools.tool_options(
        provider, list_id=LIST_IDS[provider], tags=tags, gift_list=gift_list
    )
    connection, _ = await connections.create_connection(
        session,
        provider=provider,
        label="",
        handle_ids=frozenset(handle.id for handle in handles) if handles else None,
        secret=key or KEYS[provider],
        options=options,
        created_by=None,
        cipher=connections.cipher_of(settings),
    )
    await session.commit()
    await session.refresh(connection)
    return connection


async def guide_page_connected(
    session: AsyncSession, settings: Settings, provider: str, **options: Any
) -> tuple[Page, Connection]:
    """Anna's double opt-in page "guide", and `provider` connected for Anna's handle (with
    `connect`'s keyword `options`): the start of most email-tool tests."""
    anna = await add_handle(session, "anna")
    page = await add_page(session, anna, "guide", double_opt_in=True)
    return page, await connect(session, settings, provider, [anna], **options)


async def sign_up(
    session: AsyncSession,
    page: Page,
    email: str,
    *,
    newsletter: bool = True,
    name: str = "Fan",
    campaign: str | None = None,
    confirm: bool = True,
) -> int:
    """A lead through the real opt-in (attributed to Instagram and `campaign`), then confirmed
    by its link; committed."""
    form = replace(opt_in_form(email, name), consent=newsletter)
    lead_id = await leads.submit_opt_in(session, page, form, None, lead_links())
    assert lead_id is not None
    lead = await session.get_one(Lead, lead_id)
    lead.source, lead.campaign = "instagram", campaign
    await session.flush()
    if confirm:
        await leads.confirm_lead(session, lead_id, lead_links(), link_issued_at=utcnow())
    await session.commit()
    return lead_id


async def sync_rows(session: AsyncSession, lead_id: int) -> list[EmailToolSync]:
    session.expire_all()
    return list(
        await session.scalars(select(EmailToolSync).where(EmailToolSync.lead_id == lead_id))
    )


async def tool_messages(session: AsyncSession) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "email_tool")
            .order_by(OutboxMessage.id)
        )
    )


async def everything_stored(session: AsyncSession) -> str:
    """The outbox payloads, the event log and the sync rows, as one text to search."""
    session.expire_all()
    payloads: list[Any] = list(await session.scalars(select(OutboxMessage.payload)))
    errors = list(await session.scalars(select(OutboxMessage.last_error)))
    events = [
        (event.event_type, event.detail) for event in await session.scalars(select(ConnectionEvent))
    ]
    connections_seen = [
        (c.last_error, c.settings) for c in await session.scalars(select(Connection))
    ]
    syncs = [(s.remote_id, s.last_error) for s in await session.scalars(select(EmailToolSync))]
    return json.dumps([payloads, errors, events, connections_seen, syncs], default=str)
