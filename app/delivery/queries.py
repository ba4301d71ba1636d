"""The reads of the admin outbox: recent emails, newest first in keyset pages, and one email.

The outbox knows no lead or handle: a caller limited to some handles passes the ids of the
leads it may see as a subquery (`lead_scope`), and sees only their messages; `None` means every
message, those without a lead (pings, invitations) included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.delivery.models import OutboxKind, OutboxMessage, OutboxStatus
from app.pagination import CursorCodec, InvalidCursor

__all__ = ["EMAIL_STATUSES", "EmailPage", "find_email", "list_emails"]

EMAILS_ORDERING = "outbox-emails-newest"
EMAIL_STATUSES = tuple(status.value for status in OutboxStatus)


@dataclass(frozen=True, slots=True)
class EmailPage:
    items: list[OutboxMessage]
    next_cursor: str | None


def _emails(lead_scope: Select[Any] | None) -> Select[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL.value)
    if lead_scope is not None:
        query = query.where(OutboxMessage.lead_id.in_(lead_scope))
    return query


async def list_emails(
    session: AsyncSession,
    *,
    lead_scope: Select[Any] | None,
    codec: CursorCodec,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> EmailPage:
    """Emails newest first (by id: ids grow with the time they were queued), `limit` a page."""
    query = _emails(lead_scope).order_by(OutboxMessage.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if cursor is not None:
        [raw_id] = codec.decode(cursor, EMAILS_ORDERING, 1)
        try:
            before = int(raw_id)
        except (TypeError, ValueError):
            raise InvalidCursor from None
        query = query.where(OutboxMessage.id < before)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= limit:
        return EmailPage(rows, None)
    rows = rows[:limit]
    return EmailPage(rows, codec.encode(EMAILS_ORDERING, [rows[-1].id]))


async def find_email(
    session: AsyncSession, message_id: int, *, lead_scope: Select[Any] | None
) -> OutboxMessage | None:
    """The email, or None when it is unknown, not an email, or outside `lead_scope`."""
    query = _emails(lead_scope).where(OutboxMessage.id == message_id)
    return (await session.scalars(query)).one_or_none()
