"""Which leads go to which email tool, queued in the caller's transaction (the outbox's point):
a change of a lead and the message that tells the tool commit together, or neither does.

The consent rule: a lead is sent when it is confirmed (or a customer) and ticked the newsletter
box; a gift-only sign-up only when the owner ticked "Also add gift-only sign-ups" on the
connection. An unsubscribe is sent to the tools that received the lead. An erasure removes the
person at every tool that received them and deletes leadlink's record of the sync; the
erasure's own message holds the address until it is settled, then is scrubbed.

Nothing here commits, and nothing here knows a lead: `app.leads.email_tools` builds the
`Contact` and calls in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.exceptions import InvalidConnection
from app.connections.models import Connection, ConnectionStatus, connection_handles
from app.connections.providers import CATALOGUE, Kind
from app.db import utcnow
from app.delivery import service as outbox
from app.delivery.models import OutboxKind
from app.email_tools.contract import MAX_TAG_LENGTH, Contact
from app.email_tools.mailchimp import data_center
from app.email_tools.models import EmailToolSync, SyncAction, SyncState

__all__ = [
    "ERASE",
    "GIFT_LIST",
    "LIST_ID",
    "TAGS",
    "SyncSummary",
    "check_api_key",
    "covers",
    "email_tool_connections",
    "erase_lead",
    "summary",
    "sync_lead",
    "syncs_of_leads",
    "tool_options",
]

ERASE = "erase"
# The names of an email-tool connection's settings (not secret).
LIST_ID = "list_id"
TAGS = "tags"
GIFT_LIST = "gift_list"

EMAIL_TOOLS = tuple(key for key, item in CATALOGUE.items() if item.kind == Kind.EMAIL_TOOL)


def covers(connection: Connection, contact: Contact) -> bool:
    """Whether the lead's consent covers this connection's list (see the module docstring)."""
    return contact.newsletter or bool(connection.settings.get(GIFT_LIST))


def _fingerprint(action: str, contact: Contact, connection: Connection) -> str:
    """What a message carries, and where it goes: a new list or new tags of the owner's make
    "Send confirmed leads" send everyone again."""
    where = [connection.settings.get(LIST_ID), connection.settings.get(TAGS)]
    data = json.dumps([action, contact.as_payload(), where], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


async def email_tool_connections(
    session: AsyncSession, handle_id: int | None = None
) -> list[Connection]:
    """The email-tool connections that are not disabled, of one handle (those for it or for
    every handle) or of all handles."""
    statement = select(Connection).where(
        Connection.provider.in_(EMAIL_TOOLS),
        Connection.status != ConnectionStatus.DISABLED.value,
    )
    if handle_id is not None:
        scoped = select(connection_handles.c.connection_id)
        mine = scoped.where(connection_handles.c.handle_id == handle_id)
        statement = statement.where(
            or_(Connection.id.in_(mine), Connection.id.not_in(scoped.distinct()))
        )
    return list(await session.scalars(statement.order_by(Connection.id)))


async def _sync_row(
    session: AsyncSession, connection_id: int, lead_id: int
) -> EmailToolSync | None:
    return await session.scalar(
        select(EmailToolSync).where(
            EmailToolSync.connection_id == connection_id, EmailToolSync.lead_id == lead_id
        )
    )


async def _queue(
    session: AsyncSession,
    connection: Connection,
    *,
    lead_id: int,
    action: SyncAction,
    contact: Contact,
    row: EmailToolSync | None,
    fingerprint: str,
) -> None:
    payload: dict[str, Any] = {
        "connection_id": connection.id,
        "action": action.value,
        "lead_id": lead_id,
        "contact": contact.as_payload(),
        "fingerprint": fingerprint,
        # A person leadlink itself unsubscribed from the tool, who opted in again since.
        "resubscribe": row is not None and row.action == SyncAction.UNSUBSCRIBE.value,
        "remote_id": row.remote_id if row else None,
    }
    # `lead_id` ties the payload to the person: erasure deletes it with the lead's emails.
    await outbox.enqueue(session, OutboxKind.EMAIL_TOOL, payload, lead_id=lead_id)
    now = utcnow()
    if row is None:
        row = EmailToolSync(connection_id=connection.id, lead_id=lead_id)
        session.add(row)
    row.action = action.value
    row.fingerprint = fingerprint
    row.state = SyncState.QUEUED.value
    row.last_error = None
    row.queued_at = now
    await session.flush()


async def sync_lead(
    session: AsyncSession,
    connection: Connection,
    *,
    lead_id: int,
    status: str,
    contact: Contact,
    retry_failed: bool = False,
) -> bool:
    """Queue what `connection` should learn about the lead now, if anything; whether queued.

    Confirmed (or customer) and covered: add or update it, unless exactly this was queued
    already. Unsubscribed: unsubscribe it from a tool that received it. Anything else
    (pending, or consent that does not cover the list): nothing. `retry_failed` (the admin's
    "Send confirmed leads") queues again what failed, even unchanged.
    """
    row = await _sync_row(session, connection.id, lead_id)
    if status == "unsubscribed":
        if row is None or (
            row.action == SyncAction.UNSUBSCRIBE.value
            and not (retry_failed and row.state == SyncState.FAILED.value)
        ):
            return False
        action = SyncAction.UNSUBSCRIBE
    elif status in {"confirmed", "customer"} and covers(connection, contact):
        action = SyncAction.SUBSCRIBE
    else:
        return False
    fingerprint = _fingerprint(action.value, contact, connection)
    if row is not None and row.action == action.value and row.fingerprint == fingerprint:
        retrying = retry_failed and row.state == SyncState.FAILED.value
        if not retrying:
            return False
    await _queue(
        session,
        connection,
        lead_id=lead_id,
        action=action,
        contact=contact,
        row=row,
        fingerprint=fingerprint,
    )
    return True


async def erase_lead(session: AsyncSession, *, lead_id: int, email: str) -> int:
    """Queue the person's removal at every tool that received the lead, and forget the sync
    rows; how many were queued. Called before the lead's address is blanked.

    The message carries the address (the tools find people by it) and no `lead_id`, so the
    erasure's own `forget_lead` leaves it; the handler scrubs it once it is settled.
    """
    rows = list(
        await session.scalars(select(EmailToolSync).where(EmailToolSync.lead_id == lead_id))
    )
    for row in rows:
        payload = {
            "connection_id": row.connection_id,
            "action": ERASE,
            "lead_id": lead_id,
            "contact": {"email": email},
            "remote_id": row.remote_id,
        }
        await outbox.enqueue(session, OutboxKind.EMAIL_TOOL, payload)
    if rows:
        await session.execute(
            delete(EmailToolSync)
            .where(EmailToolSync.lead_id == lead_id)
            .execution_options(synchronize_session=False)
        )
        for row in rows:
            session.expunge(row)
    return len(rows)


async def syncs_of_leads(
    session: AsyncSession, lead_ids: list[int]
) -> list[tuple[str, EmailToolSync]]:
    """The sync rows of these leads with their connection's provider (a person's export)."""
    if not lead_ids:
        return []
    rows = await session.execute(
        select(Connection.provider, EmailToolSync)
        .join(Connection, Connection.id == EmailToolSync.connection_id)
        .where(EmailToolSync.lead_id.in_(lead_ids))
        .order_by(EmailToolSync.lead_id, EmailToolSync.id)
    )
    return [(provider, row) for provider, row in rows]


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """A connection's page: how many leads the tool has, how many wait or failed, and when
    the last one arrived."""

    synced: int
    queued: int
    failed: int
    last_synced_at: datetime | None


async def summary(session: AsyncSession, connection: Connection) -> SyncSummary:
    rows = await session.execute(
        select(EmailToolSync.state, func.count(), func.max(EmailToolSync.synced_at))
        .where(EmailToolSync.connection_id == connection.id)
        .group_by(EmailToolSync.state)
    )
    counts = {state.value: 0 for state in SyncState}
    last = None
    for state, count, synced_at in rows:
        counts[state] = int(count)
        if synced_at is not None and (last is None or synced_at > last):
            last = synced_at
    return SyncSummary(counts["synced"], counts["queued"], counts["failed"], last)


MAX_LIST_ID = 100
MAX_TAGS = 10


def tool_options(provider: str, *, list_id: str, tags: str, gift_list: bool) -> dict[str, Any]:
    """A connection's settings from the admin's form, or `InvalidConnection` naming the field:
    Mailchimp needs its audience id, Brevo its list id (a number); Kit uses neither. Tags are
    the owner's own, comma-separated, added to every lead (Mailchimp, Kit)."""
    list_id = list_id.strip()
    if provider in {"mailchimp", "brevo"} and not list_id:
        what = "audience id" if provider == "mailchimp" else "list id"
        raise InvalidConnection("list_id", f"Enter the {what} the leads go to.")
    if len(list_id) > MAX_LIST_ID or not all(c.isascii() and c.isalnum() for c in list_id):
        raise InvalidConnection("list_id", "A list id is letters and digits only.")
    if provider == "brevo" and not list_id.isdigit():
        raise InvalidConnection("list_id", "A Brevo list id is a number (under Contacts, Lists).")
    names = [name.strip() for name in tags.split(",") if name.strip()]
    if len(names) > MAX_TAGS or any(len(name) > MAX_TAG_LENGTH for name in names):
        message = f"At most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters."
        raise InvalidConnection("tags", message)
    options: dict[str, Any] = {GIFT_LIST: gift_list}
    if provider != "kit":
        options[LIST_ID] = list_id
    if names and provider != "brevo":
        options[TAGS] = names
    return options


def check_api_key(provider: str, api_key: str) -> None:
    """Mailchimp's key ends with its data center (`…-us21`), which makes the API's address."""
    if provider == "mailchimp" and data_center(api_key.strip()) is None:
        message = "A Mailchimp API key ends with its data center, like …-us21: paste it whole."
        raise InvalidConnection("secret", message)
