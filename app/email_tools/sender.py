"""The outbox handler of `email_tool` messages: calls the connection's tool, records what
became of the lead (its sync row, the connection's event log, no address in either) and tells
the worker whether to retry.

What each trouble does:

- the key refused (401): the connection turns `needs_reconnect` with the message; this lead
  fails for now (queued again by "Send confirmed leads" once a new key is pasted), so a dead key
  causes one failed call per queued lead, never a retry storm;
- rate limited (429): retried after the tool's `Retry-After`;
- unavailable (5xx, timeout) or an unexpected answer: retried with back-off, the message shown
  on the connection's page until a call succeeds;
- the person refused (an invalid address, a compliance state): this lead fails for good, logged
  as `refused`; the connection stays active.

An erasure is retried while the key is refused (hourly), since it is owed to the person; once
settled, sent or failed, its payload is scrubbed of the address.

HTTP calls run outside any database session, so a slow tool holds no lock.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections import service as connections
from app.connections.calls import (
    CallTrouble,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
)
from app.connections.crypto import SecretsUnreadable
from app.connections.models import Connection, ConnectionStatus, EventOutcome
from app.db import Database, utcnow
from app.delivery.exceptions import PermanentFailure, TemporaryFailure
from app.delivery.models import OutboxMessage
from app.delivery.worker import RetryPolicy
from app.email_tools.brevo import Brevo
from app.email_tools.contract import AddressRefused, Contact, EmailTool, ToolSettings
from app.email_tools.kit import Kit, KitTags
from app.email_tools.mailchimp import Mailchimp
from app.email_tools.models import EmailToolSync, SyncState
from app.email_tools.service import ERASE, LIST_ID, TAGS

__all__ = ["EMAIL_TOOL_RETRY_POLICY", "EmailToolSender", "tool_for"]

# 30 s doubling to 6 h: 24 attempts span about four days (a tool's outage, a weekend).
EMAIL_TOOL_RETRY_POLICY = RetryPolicy(max_attempts=24, first_delay=30.0, max_delay=6 * 3600.0)
ERASE_WAIT_FOR_KEY_SECONDS = 3600.0
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
SCRUBBED = "scrubbed"


def _without_addresses(text: str) -> str:
    """A tool's message as leadlink keeps it (event log, sync row, the outbox's last error):
    a tool may quote the address, and an erased person's must not stay."""
    return _ADDRESS.sub("<address>", text)[:500]


def tool_for(
    connection: Connection, tool: ToolSettings, settings: Settings, kit_tags: KitTags
) -> EmailTool:
    if connection.provider == "mailchimp":
        return Mailchimp(settings, tool)
    if connection.provider == "kit":
        return Kit(settings, tool, kit_tags)
    if connection.provider == "brevo":
        return Brevo(settings, tool)
    raise UnexpectedAnswer(f"{connection.provider} is not an email tool.")


@dataclass(frozen=True, slots=True)
class _Ready:
    """What a call needs, read in a short session: the tool, or why there is none."""

    tool: EmailTool | None
    trouble: str = ""
    wait: bool = False  # the connection needs a new key (an erasure waits for it)
    mark: bool = False  # ... and the connection does not show it yet
    gone: bool = False  # the connection was deleted


class EmailToolSender:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        max_attempts: int = EMAIL_TOOL_RETRY_POLICY.max_attempts,
    ) -> None:
        self.database = database
        self.settings = settings
        self.max_attempts = max_attempts
        self._kit_tags: dict[int, KitTags] = {}

    async def __call__(self, message: OutboxMessage) -> str | None:
        payload = dict(message.payload)
        if payload.get(SCRUBBED):
            return "nothing left to send"
        action = str(payload["action"])
        connection_id = int(payload["connection_id"])
        if action != ERASE and not await self._still_wanted(payload):
            return "skipped: the lead was erased, or changed again since (a newer message follows)"
        ready = await self._ready(connection_id, action)
        if ready.gone:
            await self._settle(message, payload, None)
            return "dropped: the connection was deleted"
        if ready.tool is None:
            return await self._not_callable(message, payload, ready)
        contact = Contact.from_payload(payload["contact"])
        remote_id = payload.get("remote_id")
        try:
            note = await self._call(ready.tool, action, contact, payload, remote_id)
        except AddressRefused as exc:
            await self._settle(message, payload, EventOutcome.REFUSED, str(exc), SyncState.FAILED)
            raise PermanentFailure(_without_addresses(str(exc))) from exc
        except TokenRejected as exc:
            await self._settle(
                message,
                payload,
                EventOutcome.FAILED,
                str(exc),
                SyncState.FAILED,
                status=ConnectionStatus.NEEDS_RECONNECT,
                scrub=action != ERASE,
            )
            if action == ERASE:
                raise TemporaryFailure(
                    _without_addresses(str(exc)), retry_after=ERASE_WAIT_FOR_KEY_SECONDS
                ) from exc
            raise PermanentFailure(_without_addresses(str(exc))) from exc
        except CallTrouble as exc:  # rate limited, unavailable, an unexpected answer
            last = message.attempts >= self.max_attempts
            await self._settle(
                message,
                payload,
                EventOutcome.FAILED,
                str(exc),
                SyncState.FAILED if last else None,
                scrub=last,
            )
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            raise TemporaryFailure(_without_addresses(str(exc)), retry_after=retry_after) from exc
        await self._settle(message, payload, EventOutcome.SENT, note, SyncState.SYNCED)
        return None

    async def _call(
        self,
        tool: EmailTool,
        action: str,
        contact: Contact,
        payload: dict[str, Any],
        remote_id: str | None,
    ) -> str | None:
        """Run the action; a subscribe returns the tool's id, an erasure its note."""
        if action == "subscribe":
            found = await tool.subscribe(
                contact, resubscribe=bool(payload.get("resubscribe")), remote_id=remote_id
            )
            payload["remote_id"] = found or remote_id
            return None
        if action == "unsubscribe":
            await tool.unsubscribe(contact, remote_id=remote_id)
            return None
        return await tool.erase(contact, remote_id=remote_id)

    async def _still_wanted(self, payload: dict[str, Any]) -> bool:
        """Whether this add or unsubscribe is still the lead's latest: an erasure deletes the
        lead's sync rows (its messages too, unless one was already claimed), and a newer change
        replaces the fingerprint (its own message sends the latest state)."""
        async with self.database.session(write=False) as session:
            fingerprint = await session.scalar(
                select(EmailToolSync.fingerprint).where(
                    EmailToolSync.connection_id == int(payload["connection_id"]),
                    EmailToolSync.lead_id == int(payload["lead_id"]),
                )
            )
        return fingerprint is not None and fingerprint == payload.get("fingerprint")

    async def _ready(self, connection_id: int, action: str) -> _Ready:
        async with self.database.session(write=False) as session:
            connection = await session.get(Connection, connection_id)
            if connection is None:
                return _Ready(None, gone=True)
            if connection.status == ConnectionStatus.DISABLED.value and action != ERASE:
                return _Ready(None, "not sent: the connection is disabled")
            if connection.status == ConnectionStatus.NEEDS_RECONNECT.value:
                return _Ready(None, "not sent: the connection needs a new API key", wait=True)
            try:
                secrets = connections.read_secrets(connection, connections.cipher_of(self.settings))
            except SecretsUnreadable as exc:
                return _Ready(None, str(exc), wait=True, mark=True)
            tool = ToolSettings(
                api_key=secrets.get(connections.SIGNING_SECRET, ""),
                list_id=str(connection.settings.get(LIST_ID) or ""),
                extra_tags=tuple(str(tag) for tag in connection.settings.get(TAGS) or ()),
            )
            kit_tags = self._kit_tags.setdefault(connection_id, KitTags())
            try:
                return _Ready(tool_for(connection, tool, self.settings, kit_tags))
            except CallTrouble as exc:
                refused = isinstance(exc, TokenRejected)
                return _Ready(None, str(exc), wait=refused, mark=refused)

    async def _not_callable(
        self, message: OutboxMessage, payload: dict[str, Any], ready: _Ready
    ) -> str | None:
        """No call can be made: an erasure waits for a new key; anything else fails now (and
        is queued again by "Send confirmed leads")."""
        if payload["action"] == ERASE and ready.wait:
            if message.attempts >= self.max_attempts:
                await self._settle(
                    message,
                    payload,
                    EventOutcome.FAILED,
                    "The erasure could not be sent before the retries ran out: erase the person "
                    "at the tool by hand.",
                )
            raise TemporaryFailure(ready.trouble, retry_after=ERASE_WAIT_FOR_KEY_SECONDS)
        if ready.mark:
            async with self.database.session() as session:
                connection = await session.get(Connection, int(payload["connection_id"]))
                if connection is not None:
                    await connections.mark_trouble(
                        session, connection, ConnectionStatus.NEEDS_RECONNECT, ready.trouble
                    )
                await session.commit()
        await self._settle(message, payload, None, ready.trouble, SyncState.FAILED)
        raise PermanentFailure(ready.trouble)

    async def _settle(
        self,
        message: OutboxMessage,
        payload: dict[str, Any],
        outcome: EventOutcome | None,
        detail: str | None = None,
        state: SyncState | None = None,
        *,
        status: ConnectionStatus | None = None,
        scrub: bool = True,
    ) -> None:
        """Record the result in one transaction: the sync row (unless a newer action was
        queued since), the event log, the connection's status; an erasure's payload scrubbed."""
        action = str(payload["action"])
        connection_id = int(payload["connection_id"])
        lead_id = payload.get("lead_id")
        async with self.database.session() as session:
            connection = await session.get(Connection, connection_id)
            if connection is not None and outcome is not None:
                event = await connections.claim_event(
                    session, connection, f"{action}-{uuid.uuid4().hex[:16]}", action
                )
                if event is not None:
                    note = _without_addresses(detail) if detail else None
                    await connections.note_event(
                        session,
                        connection,
                        event,
                        outcome=outcome.value,
                        lead_id=int(lead_id) if lead_id is not None else None,
                        detail=note,
                    )
                if status is not None:
                    await connections.mark_trouble(session, connection, status, detail or "")
            if action != ERASE and state is not None and lead_id is not None:
                await _record_sync(session, payload, state, detail)
            if action == ERASE and scrub:
                await _scrub(session, message, payload)
            await session.commit()


async def _record_sync(
    session: AsyncSession, payload: dict[str, Any], state: SyncState, detail: str | None
) -> None:
    values: dict[str, Any] = {"state": state.value}
    if state == SyncState.SYNCED:
        values["synced_at"] = utcnow()
        values["last_error"] = None
        if payload.get("remote_id"):
            values["remote_id"] = str(payload["remote_id"])[:100]
    else:
        values["last_error"] = _without_addresses(detail or "")
    await session.execute(
        update(EmailToolSync)
        .where(
            EmailToolSync.connection_id == int(payload["connection_id"]),
            EmailToolSync.lead_id == int(payload["lead_id"]),
            # A newer action queued since owns the row's state.
            EmailToolSync.fingerprint == str(payload.get("fingerprint", "")),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def _scrub(session: AsyncSession, message: OutboxMessage, payload: dict[str, Any]) -> None:
    """An erasure's message keeps no address once settled."""
    kept = {"connection_id": payload["connection_id"], "action": ERASE, SCRUBBED: True}
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(payload=kept)
        .execution_options(synchronize_session=False)
    )
