"""Connecting a platform: what the owner pastes for each (checked), the one handle it is for,
replacing its tokens, **Fetch now**, and what its admin page shows.

A platform connection is for exactly **one** handle: the likes it reads are that handle's on
the platform (a YouTube channel, a TikTok account), written into the report under its name.
Nothing here commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import service as connections
from app.connections.crypto import ConnectionCipher, mask
from app.connections.exceptions import InvalidConnection
from app.connections.models import Connection, ConnectionStatus, Provider
from app.connections.providers import info
from app.db import utcnow
from app.platforms import tiktok, youtube
from app.platforms.connectors import CONNECTORS
from app.reports.models import SocialMetric

__all__ = [
    "FORM_FIELDS",
    "FORM_NAMES",
    "PlatformView",
    "create_platform_connection",
    "credentials_from_form",
    "fetch_now",
    "is_platform",
    "platform_view",
    "set_credentials",
    "token_fields",
]

HANDLES_FIELD = "handles"
ACCESS_TOKEN = "access_token"  # noqa: S105 - the name of a field
DAYS_SHOWN = 7
CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_-]{22}")
FORM_FIELDS: dict[str, tuple[tuple[str, str, bool, int], ...]] = {
    Provider.YOUTUBE.value: (
        ("youtube_api_key", youtube.API_KEY, True, 200),
        ("youtube_channel_id", youtube.CHANNEL_ID, False, 24),
    ),
    Provider.TIKTOK.value: (
        ("tiktok_client_key", tiktok.CLIENT_KEY, True, 200),
        ("tiktok_client_secret", tiktok.CLIENT_SECRET, True, 200),
        ("tiktok_refresh_token", tiktok.REFRESH_TOKEN, True, 1000),
    ),
    Provider.INSTAGRAM.value: (
        ("instagram_access_token", ACCESS_TOKEN, True, 1000),
        ("instagram_user_id", "ig_user_id", False, 30),
    ),
    Provider.FACEBOOK.value: (
        ("facebook_access_token", ACCESS_TOKEN, True, 1000),
        ("facebook_page_id", "page_id", False, 30),
    ),
}
"""provider → its form fields: (form name, stored name, secret?, max length)."""

_LABELS = {
    "youtube_api_key": "API key",
    "youtube_channel_id": "channel id",
    "tiktok_client_key": "client key",
    "tiktok_client_secret": "client secret",
    "tiktok_refresh_token": "refresh token",
    "instagram_access_token": "access token",
    "instagram_user_id": "account id",
    "facebook_access_token": "Page access token",
    "facebook_page_id": "Page id",
}
DIGITS_ONLY = frozenset({"instagram_user_id", "facebook_page_id"})


FORM_NAMES = frozenset(name for fields in FORM_FIELDS.values() for name, *_ in fields)
"""Every platform field of the admin's forms."""


def token_fields(provider: str) -> list[tuple[str, str]]:
    """The secret fields of `provider`'s form (name, label): what replacing its tokens asks."""
    return [(name, _LABELS[name]) for name, _stored, secret, _ in FORM_FIELDS[provider] if secret]


def is_platform(provider: str) -> bool:
    return provider in CONNECTORS


def credentials_from_form(
    provider: str, form: Mapping[str, str], *, settings_too: bool = True
) -> tuple[dict[str, str], dict[str, str]]:
    """The secrets and the settings the owner pasted for `provider`, each checked: one word of
    bounded length; YouTube's channel id as YouTube writes it (`UC` and 22 characters)."""
    secrets: dict[str, str] = {}
    options: dict[str, str] = {}
    for name, stored, secret, longest in FORM_FIELDS[provider]:
        if not secret and not settings_too:
            continue
        value = form.get(name, "").strip()
        label = _LABELS[name]
        if not value:
            raise InvalidConnection(name, f"Paste the {label}.")
        if len(value) > longest or any(character.isspace() for character in value):
            raise InvalidConnection(
                name, f"The {label} is one word of at most {longest} characters."
            )
        if name in DIGITS_ONLY and not (value.isascii() and value.isdigit()):
            raise InvalidConnection(name, f"The {label} is digits only.")
        if name == "youtube_channel_id" and not CHANNEL_ID.fullmatch(value):
            raise InvalidConnection(
                name,
                "A channel id is UC followed by 22 letters, digits, - or _ (YouTube Studio > "
                "Settings > Channel > Advanced settings).",
            )
        (secrets if secret else options)[stored] = value
    return secrets, options


def _one_handle(provider: str, handle_ids: frozenset[int] | None) -> int:
    if handle_ids is None or len(handle_ids) != 1:
        message = (
            f"A {info(provider).label} connection is for exactly one handle: tick the one whose "
            "likes these are."
        )
        raise InvalidConnection(HANDLES_FIELD, message)
    return next(iter(handle_ids))


async def create_platform_connection(
    session: AsyncSession,
    *,
    provider: str,
    label: str,
    handle_ids: frozenset[int] | None,
    form: Mapping[str, str],
    created_by: int | None,
    cipher: ConnectionCipher,
) -> Connection:
    """A new platform connection for one handle, due for its first fetch now."""
    _one_handle(provider, handle_ids)
    secrets, options = credentials_from_form(provider, form)
    connection, _made = await connections.create_connection(
        session,
        provider=provider,
        label=label,
        handle_ids=handle_ids,
        secret=None,
        options=options,
        created_by=created_by,
        cipher=cipher,
    )
    await set_credentials(session, connection, secrets, cipher)
    return connection


async def set_credentials(
    session: AsyncSession,
    connection: Connection,
    secrets: Mapping[str, str],
    cipher: ConnectionCipher,
) -> None:
    """Store new tokens (encrypted; the admin shows the first one masked) and fetch at once:
    a connection that needed a reconnect is active again."""
    connection.secrets = cipher.encrypt(dict(secrets))
    connection.secret_hint = mask(next(iter(secrets.values())))
    if connection.status != ConnectionStatus.DISABLED.value:
        connection.status = ConnectionStatus.ACTIVE.value
    connection.last_error = None
    connection.poll_failures = 0
    connection.next_poll_at = utcnow()
    connection.updated_at = utcnow()
    await session.flush()


async def fetch_now(session: AsyncSession, connection: Connection) -> None:
    """Make the connection due now (the poller fetches it within a minute, at once when it
    runs in this process). Refused while it needs new tokens or is disabled."""
    if connection.status == ConnectionStatus.NEEDS_RECONNECT.value:
        raise InvalidConnection("fetch", "Paste a new token first: the current one was refused.")
    if connection.status == ConnectionStatus.DISABLED.value:
        raise InvalidConnection("fetch", "Enable the connection first.")
    connection.next_poll_at = utcnow()
    await session.flush()


@dataclass(frozen=True, slots=True)
class PlatformView:
    """What a platform connection's page shows besides the connection itself."""

    handle: str | None
    days: list[tuple[date, int | None, int | None]]  # newest first: day, likes, followers
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    tokens: list[tuple[str, str]]  # the form's secret fields: name, label


async def platform_view(
    session: AsyncSession, connection: Connection, handles: list[str]
) -> PlatformView | None:
    """The last days' likes and followers in the report for the connection's handle."""
    if not is_platform(connection.provider):
        return None
    handle_ids = await connections.handle_ids_of(session, connection.id)
    rows: list[tuple[date, int | None, int | None]] = []
    if handle_ids is not None and len(handle_ids) == 1:
        result = await session.execute(
            select(SocialMetric.day, SocialMetric.likes, SocialMetric.followers)
            .where(
                SocialMetric.handle_id == next(iter(handle_ids)),
                SocialMetric.platform == connection.provider,
            )
            .order_by(SocialMetric.day.desc())
            .limit(DAYS_SHOWN)
        )
        rows = [(day, likes, followers) for day, likes, followers in result.all()]
    waiting = connection.status in (
        ConnectionStatus.NEEDS_RECONNECT.value,
        ConnectionStatus.DISABLED.value,
    )
    return PlatformView(
        handle=handles[0] if len(handles) == 1 else None,
        days=rows,
        last_polled_at=connection.last_polled_at,
        next_poll_at=None if waiting else connection.next_poll_at,
        tokens=token_fields(connection.provider),
    )
