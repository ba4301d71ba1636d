"""Fetching a platform connection: when it is due, claiming it once, reading it, and what
happens after a success or a failure.

- **Due**: `connections.next_poll_at <= now` for an active (or erroring) platform connection.
  A new connection, a pasted token and **Fetch now** set it to now.
- **Claimed once**: a conditional `UPDATE … SET next_poll_at = now + lease WHERE id = … AND
  next_poll_at = <the value seen>`: of several workers only one changes the row, and a worker
  that dies mid-read leaves a lease that runs out (`LEASE`), not a stuck connection.
- **Read** outside any transaction (no database connection is held during the HTTP calls);
  then the reading is stored (`app.platforms.likes`), the attempt logged in the connection's
  event log, and the next poll scheduled.
- **Once a day**: the next poll is the next day shortly after midnight in the report's time zone
  (00:15 plus a spread of up to 30 minutes per connection), so the reading closes the day before.
  A reading belongs to the report day of `now - READING_LAG` (3 hours): the nightly reading is
  the day just ended; a **Fetch now** in the afternoon is today so far (tonight's reading then
  replaces it).
- **Failures**: a refused token → `needs_reconnect`, no more polls until a token is pasted; a
  rate limit → after `Retry-After` (YouTube's spent daily quota: after its reset); a provider
  down or an unexpected answer → `error` with the message, again after 5 minutes, doubling up to
  6 hours (so it is still read every day). Nothing raised escapes: a poll always ends scheduled.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections import service as connections
from app.connections.calls import (
    CallTrouble,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
    api_url,
)
from app.connections.crypto import SecretsUnreadable
from app.connections.models import Connection, ConnectionEvent, ConnectionStatus, EventOutcome
from app.connections.providers import info
from app.db import Database
from app.platforms.connectors import CONNECTORS, PUBLIC_URLS
from app.platforms.likes import StaleReading, store_daily_values, store_totals
from app.platforms.readings import Reading, Totals
from app.platforms.troubles import DailyQuotaExceeded, refreshed_of

__all__ = [
    "HTTP_TIMEOUT",
    "LEASE",
    "PollResult",
    "backoff",
    "claim_due",
    "next_daily_poll",
    "poll_connection",
    "reading_day",
]

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
FIRST_BACKOFF = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
MIN_RETRY = timedelta(minutes=1)
DAILY_AT = time(0, 15)
SPREAD_SECONDS = 30 * 60
READING_LAG = timedelta(hours=3)
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
POLLED = (ConnectionStatus.ACTIVE.value, ConnectionStatus.ERROR.value)
EVENT_TYPE = "daily fetch"


@dataclass(frozen=True, slots=True)
class PollResult:
    connection_id: int
    outcome: str  # an EventOutcome value
    detail: str
    next_poll_at: datetime | None


def reading_day(now: datetime, zone: ZoneInfo) -> date:
    """The report day a reading taken at `now` stands for."""
    return (now - READING_LAG).astimezone(zone).date()


def next_daily_poll(now: datetime, zone: ZoneInfo, connection_id: int) -> datetime:
    """Tomorrow shortly after midnight in `zone`, spread per connection over half an hour."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    spread = timedelta(seconds=(connection_id * 104729) % SPREAD_SECONDS)
    return (datetime.combine(tomorrow, DAILY_AT, tzinfo=zone) + spread).astimezone(UTC)


def _after_reset(now: datetime, zone_name: str) -> datetime:
    zone = ZoneInfo(zone_name)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return (datetime.combine(tomorrow, time(0, 10), tzinfo=zone)).astimezone(UTC)


def backoff(failures: int) -> timedelta:
    """The wait after `failures` failed polls in a row: 5 minutes, doubling, at most 6 hours."""
    return min(FIRST_BACKOFF * (1 << max(0, min(failures - 1, 16))), MAX_BACKOFF)


async def claim_due(database: Database, now: datetime, *, limit: int = 10) -> list[int]:
    """The due platform connections this caller now holds (each claimed by one caller only)."""
    async with database.session() as session:
        seen = (
            await session.execute(
                select(Connection.id, Connection.next_poll_at)
                .where(
                    Connection.provider.in_(sorted(CONNECTORS)),
                    Connection.status.in_(POLLED),
                    Connection.next_poll_at <= now,
                )
                .order_by(Connection.next_poll_at, Connection.id)
                .limit(limit)
            )
        ).all()
        claimed = []
        for connection_id, due in seen:
            result = await session.execute(
                update(Connection)
                .where(
                    Connection.id == connection_id,
                    Connection.next_poll_at == due,
                    Connection.status.in_(POLLED),
                )
                .values(next_poll_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(connection_id)
        await session.commit()
    return claimed


@dataclass(frozen=True, slots=True)
class _Prepared:
    provider: str
    handle_id: int
    credentials: dict[str, str]
    options: dict[str, object]


async def _prepare(
    session: AsyncSession, connection: Connection, settings: Settings
) -> _Prepared | CallTrouble:
    handles = await connections.handle_ids_of(session, connection.id)
    if handles is None or len(handles) != 1:
        return UnexpectedAnswer(
            "A platform connection is for exactly one handle: delete it and connect again "
            "with one handle ticked."
        )
    try:
        credentials = connections.read_secrets(connection, connections.cipher_of(settings))
    except SecretsUnreadable as exc:
        return TokenRejected(str(exc))
    handle_id = next(iter(handles))
    return _Prepared(connection.provider, handle_id, credentials, dict(connection.settings))


async def poll_connection(
    database: Database,
    settings: Settings,
    connection_id: int,
    *,
    now: datetime,
    http: httpx.AsyncClient,
) -> PollResult | None:
    """Read one (claimed) connection, store what it read and schedule the next poll. None when
    the connection is gone, not a platform, or no longer to be polled."""
    async with database.session(write=False) as session:
        connection = await session.get(Connection, connection_id)
        if connection is None or connection.provider not in CONNECTORS:
            return None
        if connection.status not in POLLED:
            return None
        prepared = await _prepare(session, connection, settings)
    zone = ZoneInfo(settings.report_tz)
    day = reading_day(now, zone)  # the day running totals stand for
    today = now.astimezone(zone).date()  # what a per-day connector reads up to (yesterday)
    reading: Reading | None = None
    refreshed: Mapping[str, str] | None = None
    trouble: CallTrouble | None = prepared if isinstance(prepared, CallTrouble) else None
    if isinstance(prepared, _Prepared):
        try:
            reading, refreshed = await CONNECTORS[prepared.provider].read(
                http,
                api_url(settings, prepared.provider, PUBLIC_URLS[prepared.provider]),
                prepared.credentials,
                prepared.options,
                today,
            )
        except CallTrouble as exc:
            trouble, refreshed = exc, refreshed_of(exc)
        except Exception:  # a connector's bug must not stop the poller: shown, retried
            logger.exception("reading connection %d failed unexpectedly", connection_id)
            trouble = UnexpectedAnswer("Reading failed unexpectedly (see the server's log).")
    async with database.session() as session:
        connection = await session.get(Connection, connection_id)
        if connection is None:
            return None
        if refreshed and isinstance(prepared, _Prepared):
            cipher = connections.cipher_of(settings)
            connection.secrets = cipher.encrypt({**prepared.credentials, **refreshed})
        if trouble is None and reading is not None and isinstance(prepared, _Prepared):
            result = await _stored(
                session, connection, prepared=prepared, reading=reading, day=day, now=now, zone=zone
            )
        else:
            result = await _failed(session, connection, trouble or UnexpectedAnswer("?"), now)
        session.add(
            ConnectionEvent(
                connection_id=connection.id,
                provider_event_id=_attempt_id(day, now),
                event_type=EVENT_TYPE,
                outcome=result.outcome,
                detail=result.detail[:500],
                received_at=now,
            )
        )
        connection.last_event_at = now
        await session.commit()
    return result


def _attempt_id(day: date, now: datetime) -> str:
    """The log's id of one attempt: the day read, when, and a nonce (two attempts never share
    one, even within a microsecond)."""
    return f"poll:{day.isoformat()}:{now.strftime('%Y%m%dT%H%M%S.%f')}:{secrets.token_hex(3)}"


async def _stored(
    session: AsyncSession,
    connection: Connection,
    *,
    prepared: _Prepared,
    reading: Reading,
    day: date,
    now: datetime,
    zone: ZoneInfo,
) -> PollResult:
    platform = prepared.provider
    try:
        if isinstance(reading, Totals):
            snapshot = await store_totals(
                session,
                connection_id=connection.id,
                handle_id=prepared.handle_id,
                platform=platform,
                day=day,
                totals=reading,
                now=now,
            )
            likes = (
                "unknown (first reading)"
                if snapshot.likes_gained is None
                else (
                    f"+{snapshot.likes_gained}"
                    + (f" over {snapshot.gap_days} days" if (snapshot.gap_days or 1) > 1 else "")
                )
            )
            followers = "unknown" if snapshot.followers is None else str(snapshot.followers)
            detail = (
                f"{day.isoformat()}: likes {likes}, followers {followers} "
                f"({snapshot.items} videos read)."
            )
        else:
            stored = await store_daily_values(
                session, handle_id=prepared.handle_id, platform=platform, values=reading
            )
            detail = f"{stored} days of numbers stored."
    except StaleReading as exc:
        detail = f"Not stored: {exc}."
    connection.next_poll_at = next_daily_poll(now, zone, connection.id)
    connection.last_polled_at = now
    connection.poll_failures = 0
    if connection.status == ConnectionStatus.ERROR.value:
        connection.status = ConnectionStatus.ACTIVE.value
    connection.last_error = None
    return PollResult(connection.id, EventOutcome.FETCHED.value, detail, connection.next_poll_at)


async def _failed(
    session: AsyncSession, connection: Connection, trouble: CallTrouble, now: datetime
) -> PollResult:
    message = str(trouble)
    connection.poll_failures += 1
    label = info(connection.provider).label
    if isinstance(trouble, TokenRejected):
        connection.next_poll_at = None  # until a new token is pasted
        status = ConnectionStatus.NEEDS_RECONNECT
        message = f"{message} Reconnect: paste a new token below."
    else:
        if isinstance(trouble, DailyQuotaExceeded):
            due = _after_reset(now, trouble.reset_zone)
        elif isinstance(trouble, RateLimited) and trouble.retry_after is not None:
            due = now + max(timedelta(seconds=trouble.retry_after), MIN_RETRY)
        else:
            due = now + backoff(connection.poll_failures)
        connection.next_poll_at = due
        status = ConnectionStatus.ERROR
        message = f"{message} Next try {due.strftime('%Y-%m-%d %H:%M')} UTC."
    if connection.status in POLLED or connection.status == ConnectionStatus.NEEDS_RECONNECT.value:
        await connections.mark_trouble(session, connection, status, message)
    logger.info("%s connection %d: %s", label, connection.id, trouble.__class__.__name__)
    return PollResult(connection.id, EventOutcome.FAILED.value, message, connection.next_poll_at)
