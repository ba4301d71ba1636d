"""Managing connections: create one for some handles, paste or replace its secret, enable,
disable, delete, read its event log; and what every connector shares when it receives or
fetches something: find the connection, claim an event id once, note success or trouble.

A connection belongs to its handles (none: every handle). An owner sees only connections
all of whose handles they see; anything else is a 404, exactly like a missing one. Nothing
here commits.
"""

from __future__ import annotations

import secrets as random
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections.crypto import ConnectionCipher, SecretsUnreadable, cipher_for, mask
from app.connections.exceptions import ConnectionNotFound, InvalidConnection
from app.connections.models import (
    Connection,
    ConnectionEvent,
    ConnectionStatus,
    connection_handles,
)
from app.connections.providers import CATALOGUE, info
from app.db import utcnow
from app.handles.models import Handle
from app.handles.visibility import Sight, sees_all

__all__ = [
    "MAX_SECRET_LENGTH",
    "SIGNING_SECRET",
    "URL_KEY",
    "ConnectionView",
    "RotationResult",
    "cipher_of",
    "claim_event",
    "create_connection",
    "delete_connection",
    "find_receiving",
    "get_connection",
    "handle_ids_of",
    "list_connections",
    "list_events",
    "mark_trouble",
    "mark_working",
    "new_url_key",
    "note_event",
    "parse_id",
    "read_secrets",
    "rotate_key",
    "set_secret",
    "set_status",
    "view_of",
]

MAX_SECRET_LENGTH = 500
# The names of the secrets in a connection's encrypted object.
URL_KEY = "url_key"
SIGNING_SECRET = "signing_secret"  # noqa: S105 - the name of a field, not a secret


def cipher_of(settings: Settings) -> ConnectionCipher:
    """The cipher of this instance's keys: the current one and any previous ones."""
    previous = tuple(key.get_secret_value() for key in settings.previous_secret_keys)
    return cipher_for(settings.secret_key.get_secret_value(), previous)


def parse_id(raw: str) -> int:
    """An id from a URL; anything that is not one is a 404 like an unknown id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ConnectionNotFound
    return int(raw)


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A connection as the admin shows it: with its handles' names."""

    connection: Connection
    handles: list[str]  # empty: every handle

    @property
    def provider_label(self) -> str:
        return info(self.connection.provider).label


async def handle_ids_of(session: AsyncSession, connection_id: int) -> frozenset[int] | None:
    """The handles a connection is for; None: every handle."""
    ids = frozenset(
        await session.scalars(
            select(connection_handles.c.handle_id).where(
                connection_handles.c.connection_id == connection_id
            )
        )
    )
    return ids or None


async def _handles_by_connection(
    session: AsyncSession, connection_ids: Collection[int]
) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if connection_ids:
        rows = await session.execute(
            select(connection_handles.c.connection_id, Handle.id, Handle.name)
            .join(Handle, Handle.id == connection_handles.c.handle_id)
            .where(connection_handles.c.connection_id.in_(list(connection_ids)))
            .order_by(Handle.name)
        )
        for connection_id, handle_id, name in rows:
            found[connection_id].append((handle_id, name))
    return found


async def view_of(session: AsyncSession, connection: Connection) -> ConnectionView:
    handles = (await _handles_by_connection(session, [connection.id]))[connection.id]
    return ConnectionView(connection, [name for _, name in handles])


async def list_connections(session: AsyncSession, sight: Sight) -> list[ConnectionView]:
    """The connections the caller sees, oldest first (an instance has a handful)."""
    connections = list(await session.scalars(select(Connection).order_by(Connection.id)))
    handles = await _handles_by_connection(session, [c.id for c in connections])
    views = []
    for connection in connections:
        ids = [handle_id for handle_id, _ in handles[connection.id]] or None
        if sees_all(sight, ids):
            views.append(ConnectionView(connection, [name for _, name in handles[connection.id]]))
    return views


async def get_connection(session: AsyncSession, connection_id: int, sight: Sight) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None or not sees_all(sight, await handle_ids_of(session, connection_id)):
        raise ConnectionNotFound
    return connection


def _clean_secret(secret: str, prefix: str) -> str:
    value = secret.strip()
    if not value:
        raise InvalidConnection("secret", "Paste the secret the provider shows.")
    if len(value) > MAX_SECRET_LENGTH or any(character.isspace() for character in value):
        message = f"A secret is one word of at most {MAX_SECRET_LENGTH} characters."
        raise InvalidConnection("secret", message)
    if prefix and not value.startswith(prefix):
        raise InvalidConnection("secret", f"This provider's signing secret starts with {prefix}.")
    return value


def new_url_key() -> str:
    """The secret part of a URL that a provider without signatures (Gumroad) calls."""
    return random.token_urlsafe(24)


async def create_connection(
    session: AsyncSession,
    *,
    provider: str,
    label: str,
    handle_ids: frozenset[int] | None,
    secret: str | None,
    options: dict[str, Any],
    created_by: int | None,
    cipher: ConnectionCipher | None,
) -> tuple[Connection, str | None]:
    """A new connection, and the secret leadlink made for it (shown once), if any. (`cipher`
    may be None only for a connection created without a secret, as the demo's.)

        A provider whose secret the owner pastes may be created without it (its webhook URL is
        needed first to make the secret at the provider): it waits as `needs_reconnect`.
    """
    item = CATALOGUE.get(provider)
    if item is None or not item.available:
        raise InvalidConnection("provider", "Choose one of the listed providers.")
    made: str | None = None
    stored: dict[str, str] = {}
    if item.secret_label is None:
        made = new_url_key()
        stored[URL_KEY] = made
    elif secret and secret.strip():
        stored[SIGNING_SECRET] = _clean_secret(secret, item.secret_prefix)
    if stored and cipher is None:
        raise ValueError("a connection with a secret needs the instance's cipher")
    now = utcnow()
    connection = Connection(
        public_id=random.token_urlsafe(18),
        provider=provider,
        label=label.strip(),
        status=(ConnectionStatus.ACTIVE if stored else ConnectionStatus.NEEDS_RECONNECT).value,
        secrets=cipher.encrypt(stored) if stored and cipher else None,
        secret_hint=mask(next(iter(stored.values()))) if stored else None,
        settings=options,
        last_error=None if stored else f"Paste the {item.secret_in_a_sentence} to start.",
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(connection)
    await session.flush()
    if handle_ids:
        await session.execute(
            insert(connection_handles),
            [{"connection_id": connection.id, "handle_id": i} for i in sorted(handle_ids)],
        )
    return connection, made


async def set_secret(
    session: AsyncSession, connection: Connection, secret: str | None, cipher: ConnectionCipher
) -> str | None:
    """Replace the connection's secret: the pasted one, or (for a provider whose secret
    leadlink makes) a new one, returned to be shown once. The connection is active again."""
    item = info(connection.provider)
    made: str | None = None
    if item.secret_label is None:
        made = new_url_key()
        stored = {URL_KEY: made}
    else:
        stored = {SIGNING_SECRET: _clean_secret(secret or "", item.secret_prefix)}
    connection.secrets = cipher.encrypt(stored)
    connection.secret_hint = mask(next(iter(stored.values())))
    if connection.status != ConnectionStatus.DISABLED.value:
        connection.status = ConnectionStatus.ACTIVE.value
    connection.last_error = None
    connection.updated_at = utcnow()
    await session.flush()
    return made


async def set_status(session: AsyncSession, connection: Connection, *, enabled: bool) -> None:
    """Disable (its URL then answers 404), or enable again (active, or waiting for a secret)."""
    if not enabled:
        connection.status = ConnectionStatus.DISABLED.value
    elif connection.status == ConnectionStatus.DISABLED.value:
        connection.status = (
            ConnectionStatus.ACTIVE if connection.secrets else ConnectionStatus.NEEDS_RECONNECT
        ).value
    connection.updated_at = utcnow()
    await session.flush()


async def delete_connection(session: AsyncSession, connection: Connection) -> None:
    """Delete the connection with its event log and its sales (leads stay customers)."""
    await session.delete(connection)
    await session.flush()


def read_secrets(connection: Connection, cipher: ConnectionCipher) -> dict[str, str]:
    """The connection's secrets in clear; `SecretsUnreadable` when none is stored or no key
    decrypts them."""
    if not connection.secrets:
        raise SecretsUnreadable("This connection has no secret yet: paste it on its page.")
    return cipher.decrypt(connection.secrets)


async def find_receiving(session: AsyncSession, provider: str, public_id: str) -> Connection | None:
    """The connection a webhook URL names, unless it is unknown, another provider's or
    disabled."""
    if len(public_id) > 32:
        return None
    connection = await session.scalar(select(Connection).where(Connection.public_id == public_id))
    if (
        connection is None
        or connection.provider != provider
        or connection.status == ConnectionStatus.DISABLED.value
    ):
        return None
    return connection


def _insert_ignoring_conflict(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ConnectionEvent)


async def claim_event(
    session: AsyncSession, connection: Connection, event_id: str, event_type: str
) -> ConnectionEvent | None:
    """The new log row of this event, or None when the connection received it already (a
    provider's retry): the caller then changes nothing. Concurrent deliveries of one event
    claim it once (`ON CONFLICT DO NOTHING` on the unique event id)."""
    statement = (
        _insert_ignoring_conflict(session)
        .values(
            connection_id=connection.id,
            provider_event_id=event_id[:200],
            event_type=event_type[:100],
            outcome="ignored",
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["connection_id", "provider_event_id"])
        .returning(ConnectionEvent.id)
    )
    event_row_id = await session.scalar(statement)
    if event_row_id is None:
        return None
    return await session.get_one(ConnectionEvent, event_row_id)


async def note_event(
    session: AsyncSession,
    connection: Connection,
    event: ConnectionEvent,
    *,
    outcome: str,
    lead_id: int | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    detail: str | None = None,
) -> None:
    """What became of a claimed event; a failed one puts the connection in `error` with the
    reason, any other clears a previous error."""
    now = utcnow()
    event.outcome = outcome
    event.lead_id = lead_id
    event.amount = amount
    event.currency = currency
    event.detail = detail[:500] if detail else None
    connection.last_event_at = now
    if outcome == "failed":
        connection.status = ConnectionStatus.ERROR.value
        connection.last_error = detail
        connection.last_error_at = now
    elif connection.status == ConnectionStatus.ERROR.value:
        connection.status = ConnectionStatus.ACTIVE.value
        connection.last_error = None
    await session.flush()


async def mark_working(session: AsyncSession, connection: Connection) -> None:
    """Its stored secret just verified a request: a connection that needed one is active."""
    if connection.status == ConnectionStatus.NEEDS_RECONNECT.value and connection.secrets:
        connection.status = ConnectionStatus.ACTIVE.value
        connection.last_error = None
        await session.flush()


async def mark_trouble(
    session: AsyncSession, connection: Connection, status: ConnectionStatus, message: str
) -> None:
    """Show a problem on the connection's page (an unreadable secret, a refused token)."""
    connection.status = status.value
    connection.last_error = message[:1000]
    connection.last_error_at = utcnow()
    await session.flush()


async def list_events(
    session: AsyncSession, connection: Connection, limit: int
) -> Sequence[ConnectionEvent]:
    """The connection's latest events, newest first."""
    return (
        await session.scalars(
            select(ConnectionEvent)
            .where(ConnectionEvent.connection_id == connection.id)
            .order_by(ConnectionEvent.id.desc())
            .limit(limit)
        )
    ).all()


@dataclass(frozen=True, slots=True)
class RotationResult:
    rotated: int  # re-encrypted under the current key
    current: int  # already under it
    unreadable: int  # no key reads them: marked needs_reconnect


async def rotate_key(session: AsyncSession, cipher: ConnectionCipher) -> RotationResult:
    """Re-encrypt every stored secret under the current key (after `LEADLINK_SECRET_KEY`
    changed and the old key was put in `LEADLINK_PREVIOUS_SECRET_KEYS`)."""
    rotated = current = unreadable = 0
    connections = await session.scalars(select(Connection).where(Connection.secrets.is_not(None)))
    for connection in connections:
        token = connection.secrets or ""
        if cipher.is_current(token):
            current += 1
            continue
        try:
            connection.secrets = cipher.rotate(token)
            rotated += 1
        except SecretsUnreadable:
            unreadable += 1
            await mark_trouble(
                session,
                connection,
                ConnectionStatus.NEEDS_RECONNECT,
                "The stored secret cannot be decrypted with any key: paste it again.",
            )
    await session.flush()
    return RotationResult(rotated, current, unreadable)
