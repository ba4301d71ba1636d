"""The outbox's rules: enqueue work inside the caller's transaction, render emails, and the
queries the worker claims and settles messages with.

Nothing here commits: a message becomes visible to the worker when the caller's transaction
commits, together with the change that caused it, or never.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, delete, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app import templating
from app.db import utcnow
from app.delivery.exceptions import InvalidRecipient
from app.delivery.models import OutboxKind, OutboxMessage, OutboxStatus

__all__ = [
    "MAX_ERROR_LENGTH",
    "RenderedEmail",
    "add_waker",
    "claim_due",
    "email_payload",
    "email_rows",
    "enqueue",
    "enqueue_email",
    "forget_lead",
    "has_due",
    "mark_enqueued",
    "mark_failed",
    "mark_sent",
    "one_line",
    "prune_sent",
    "remove_waker",
    "render_email",
    "schedule_retry",
    "unsubscribe_headers",
    "validate_recipient",
    "wake_workers",
]

MAX_ERROR_LENGTH = 1000
MAX_SUBJECT_LENGTH = 200
ONE_CLICK = "List-Unsubscribe=One-Click"
_ENQUEUED = "leadlink.outbox_enqueued"
_HEADER_URL = re.compile(r"https?://[^\s<>,\"'\\\x00-\x1f\x7f]+", re.ASCII)

# Plain-text parts and subjects are not HTML: the same loader and settings, no escaping
# (an overlay shares the app environment's loader; only the HTML part is autoescaped).
_plain_environment = templating.environment.overlay(autoescape=False)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def one_line(value: str, limit: int = MAX_SUBJECT_LENGTH) -> str:
    """A header-safe single line: control and line-break characters become spaces, runs of
    whitespace collapse, and the result is capped at `limit` characters."""
    cleaned = "".join(
        " " if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} else char for char in value
    )
    line = " ".join(cleaned.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def render_email(template: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render `templates/email/{template}.subject.txt`, `.txt` and `.html` with `context`.

    The HTML part is autoescaped, the text part and the subject are not (they are not HTML);
    the subject is forced onto one line. A variable missing from `context` is an error.
    """
    name = f"email/{template}"
    subject = _plain_environment.get_template(f"{name}.subject.txt").render(context)
    text = _plain_environment.get_template(f"{name}.txt").render(context)
    html = templating.environment.get_template(f"{name}.html").render(context)
    return RenderedEmail(subject=one_line(subject), text=text.strip() + "\n", html=html)


def validate_recipient(address: str) -> str:
    """The address normalised, or `InvalidRecipient` (syntax only: no DNS on a request).

    An internationalised domain comes back in its ASCII (IDNA) form, which every mail server
    accepts; only a non-ASCII local part still needs a server with SMTPUTF8.
    """
    try:
        validated = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"not a usable email address: {exc}") from exc
    return validated.ascii_email or validated.normalized


def unsubscribe_headers(context: Mapping[str, Any]) -> dict[str, str]:
    """`List-Unsubscribe` (RFC 2369) and `List-Unsubscribe-Post` (RFC 8058 one-click) when the
    context has an `unsubscribe_url` (plus `unsubscribe_mailto`, an address, if given)."""
    url = context.get("unsubscribe_url")
    if not url:
        return {}
    if not isinstance(url, str) or not _HEADER_URL.fullmatch(url):
        raise ValueError("unsubscribe_url must be an absolute http(s) URL with no spaces")
    targets = [f"<{url}>"]
    mailto = context.get("unsubscribe_mailto")
    if mailto:
        targets.append(f"<mailto:{validate_recipient(str(mailto))}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


async def enqueue(
    session: AsyncSession,
    kind: OutboxKind | str,
    payload: dict[str, Any],
    *,
    lead_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction (flushed, not committed).

    With a `dedupe_key` already in the outbox, the existing message is returned and nothing
    new is queued, also when two transactions race with the same key.
    """
    message = OutboxMessage(
        kind=OutboxKind(kind).value,
        payload=payload,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
        lead_id=lead_id,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is None:
        session.add(message)
        await session.flush()
    else:
        await session.flush()  # only this insert may be undone by the savepoint below
        try:
            async with session.begin_nested():
                session.add(message)
        except IntegrityError:
            existing = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
            )
            if existing is None:
                raise
            return existing
    session.info[_ENQUEUED] = True
    return message


def email_payload(
    to: str, template: str, context: Mapping[str, Any], *, recipient_checked: bool = False
) -> dict[str, Any]:
    """The outbox payload of one email: the recipient checked (unless the caller just did,
    with `validate_recipient`'s rules), every part rendered now.

    Rendering at enqueue time means a template error fails the caller's request instead of
    the delivery, and the outbox row holds exactly what is sent (the admin outbox shows it).
    """
    rendered = render_email(template, context)
    return {
        "to": to if recipient_checked else validate_recipient(to),
        "template": template,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "headers": unsubscribe_headers(context),
        # Stable across retries, so a receiver can tell a re-sent message from a new one.
        "message_id": uuid.uuid4().hex,
    }


async def enqueue_email(
    session: AsyncSession,
    *,
    to: str,
    template: str,
    context: Mapping[str, Any],
    lead_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Render an email now (`email_payload`) and queue it in the caller's transaction."""
    payload = email_payload(to, template, context)
    return await enqueue(session, OutboxKind.EMAIL, payload, lead_id=lead_id, dedupe_key=dedupe_key)


def email_rows(emails: Sequence[tuple[int, dict[str, Any]]], now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of `(lead_id, email_payload)` pairs, due now."""
    return [
        {
            "kind": OutboxKind.EMAIL.value,
            "payload": payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "lead_id": lead_id,
        }
        for lead_id, payload in emails
    ]


def mark_enqueued(session: AsyncSession) -> None:
    """For callers that insert outbox rows themselves: wake the workers when `session` commits."""
    session.info[_ENQUEUED] = True


def _due(kinds: Iterable[str], now: datetime) -> list[ColumnElement[bool]]:
    return [
        OutboxMessage.status == OutboxStatus.PENDING.value,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
        OutboxMessage.kind.in_(list(kinds)),
    ]


async def has_due(session: AsyncSession, *, kinds: Iterable[str], now: datetime) -> bool:
    """Whether anything is due: a read, so an idle worker never takes SQLite's write lock."""
    found = await session.scalar(select(OutboxMessage.id).where(*_due(kinds, now)).limit(1))
    return found is not None


async def claim_due(
    session: AsyncSession,
    *,
    kinds: Iterable[str],
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages of `kinds` until `lease_until` and count the attempt.

    One statement on both databases: PostgreSQL skips rows another worker has locked
    (`FOR UPDATE SKIP LOCKED`, in a materialised CTE so the limit is applied once); SQLite
    has a single writer (`BEGIN IMMEDIATE`), so the select and update cannot interleave.
    """
    due = (
        select(OutboxMessage.id)
        .where(*_due(kinds, now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(select(due.c.id)))
        .values(locked_until=lease_until, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list((await session.scalars(statement)).all())
    return sorted(claimed, key=lambda message: (message.next_attempt_at, message.id))


async def mark_sent(session: AsyncSession, message_ids: list[int], *, now: datetime) -> None:
    if not message_ids:
        return
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(status=OutboxStatus.SENT.value, sent_at=now, locked_until=None)
        .execution_options(synchronize_session=False)
    )


async def schedule_retry(
    session: AsyncSession, message_id: int, *, at: datetime, error: str
) -> None:
    """Release the lease and try again at `at` (a message already settled is left alone)."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(next_attempt_at=at, locked_until=None, last_error=error[:MAX_ERROR_LENGTH])
        .execution_options(synchronize_session=False)
    )


async def mark_failed(session: AsyncSession, message_id: int, *, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(
            status=OutboxStatus.FAILED.value,
            locked_until=None,
            last_error=error[:MAX_ERROR_LENGTH],
        )
        .execution_options(synchronize_session=False)
    )


async def forget_lead(session: AsyncSession, lead_id: int) -> int:
    """Delete every outbox message of a lead (erasure: no payload outlives the person)."""
    result = await session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.lead_id == lead_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def prune_sent(session: AsyncSession, *, before: datetime) -> int:
    """Delete messages sent before `before`; failed ones stay for someone to look at."""
    result = await session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENT.value,
            # Implied by the next (a message is sent after it was due); lets the
            # (status, next_attempt_at) index find the rows.
            OutboxMessage.next_attempt_at < before,
            OutboxMessage.sent_at < before,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Workers running in this process are woken as soon as a transaction that enqueued something
# commits, so the request path never has to remember to do it (polling is the fallback).
_wakers: set[Callable[[], None]] = set()


def add_waker(wake: Callable[[], None]) -> None:
    _wakers.add(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    _wakers.discard(wake)


def wake_workers() -> None:
    """Wake this process's workers now: for a caller that committed outbox rows without a
    session (`app.leads.postgres_batch`); a session's commit does it by itself."""
    for wake in list(_wakers):
        wake()


@event.listens_for(Session, "after_commit")
def _wake_workers_after_commit(session: Session) -> None:
    if session.info.pop(_ENQUEUED, False):
        wake_workers()
