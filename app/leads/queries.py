"""The statements that read leads: keyset pages in a stable order, one lead, one person's leads,
and exports in chunks.

Every function takes the caller's handle restriction (`visible`: handle ids, or None for all): a
lead, page or handle outside it does not exist for the caller, exactly like a missing one.
Erased leads are not listed or shown (their rows stay, for the counts).

Pages are keyset pages, never OFFSET. By default leads come in creation order (`id`). With
`updated_after` they come in (updated_at, id) order, so a lead changed while a client walks the
pages moves behind the client's position and is seen again later instead of being skipped.
With `newest_first` (the admin's table) they come newest first, and a page also has the cursor
of the page before it ("Newer").

A search (`search`) is the start of the stored, lower-cased address and, without an `@`, of the
name (written in lower case, Title Case or UPPER CASE): range scans of `ix_leads_email` and
`ix_leads_name` when the prefix is rare, a newest-first read until the page is full when it is
common (`plan_search`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.delivery.models import OutboxKind, OutboxMessage
from app.errors import FieldError, NotFound
from app.handles.models import Handle
from app.handles.visibility import find_visible_handle, sees, visible_only
from app.leads.exceptions import LeadNotFound
from app.leads.models import ConsentEvent, Lead
from app.pages.models import Page
from app.pages.service import slug_key
from app.pagination import CursorCodec, InvalidCursor
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "BY_ID",
    "BY_NEWEST",
    "BY_UPDATE",
    "LeadFilter",
    "LeadPage",
    "LeadRow",
    "SentEmail",
    "WebhookEvent",
    "consent_ledger",
    "find_visible_page",
    "get_lead",
    "iter_lead_chunks",
    "lead_counts_by_page",
    "lead_emails",
    "lead_ids_in_sight",
    "lead_webhook_events",
    "leads_with_email",
    "list_leads",
    "parse_lead_id",
    "plan_search",
    "resolve_filter",
    "row_of",
]

BY_ID = "leads-id"
BY_UPDATE = "leads-updated"
BY_NEWEST = "leads-newest"
OLDER = "older"
NEWER = "newer"
# Above every character a stored address or name can hold: `q <= x < q + PREFIX_END` is
# "x starts with q" in byte (code point) order.
PREFIX_END = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class LeadRow:
    lead: Lead
    page_slug: str
    handle_name: str


@dataclass(frozen=True, slots=True)
class LeadFilter:
    visible: frozenset[int] | None = None
    handle_id: int | None = None
    page_id: int | None = None
    source: str | None = None
    status: str | None = None
    created_after: datetime | None = None
    updated_after: datetime | None = None
    # The admin's filters: a prefix of the address (or name), the newsletter box, a range of
    # creation times [created_from, created_before), and the newest-first order.
    search: str | None = None
    newsletter_consent: bool | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    newest_first: bool = False
    search_scan: bool = False  # set by `plan_search`

    @property
    def ordering(self) -> str:
        if self.updated_after is not None:
            return BY_UPDATE
        return BY_NEWEST if self.newest_first else BY_ID


@dataclass(frozen=True, slots=True)
class LeadPage:
    rows: list[LeadRow]
    next_cursor: str | None
    previous_cursor: str | None = None  # newest first only: the newer page, if any


def parse_lead_id(raw: str) -> int:
    """A lead id from a URL; anything that is not one is a 404 like an unknown id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise LeadNotFound
    return int(raw)


class _Invisible(NotFound):
    def __init__(self, field: str, what: str, value: str) -> None:
        message = f"There is no {what} {value!r}."
        super().__init__(message, errors=[FieldError(field, message)])


async def find_visible_page(
    session: AsyncSession, slug: str, visible: frozenset[int] | None
) -> Page:
    key = slug_key(slug)
    page = await session.scalar(select(Page).where(Page.slug == key)) if key else None
    if page is None or not sees(visible, page.handle_id):
        raise _Invisible("page", "page", slug)
    return page


async def resolve_filter(
    session: AsyncSession,
    *,
    visible: frozenset[int] | None,
    handle: str | None = None,
    page: str | None = None,
    source: str | None = None,
    status: str | None = None,
    created_after: datetime | None = None,
    updated_after: datetime | None = None,
) -> LeadFilter:
    """The list's filters with names turned into ids (an invisible name is a 404)."""
    return LeadFilter(
        visible=visible,
        handle_id=(await find_visible_handle(session, handle, visible, field="handle")).id
        if handle
        else None,
        page_id=(await find_visible_page(session, page, visible)).id if page else None,
        source=source,
        status=status,
        created_after=created_after,
        updated_after=updated_after,
    )


def _rows_query(lead_filter: LeadFilter) -> Select[Lead, str, str]:
    query = (
        select(Lead, Page.slug, Handle.name)
        .join(Page, Page.id == Lead.page_id)
        .join(Handle, Handle.id == Lead.handle_id)
        .where(Lead.erased_at.is_(None))
    )
    query = query.where(visible_only(Lead.handle_id, lead_filter.visible))
    if lead_filter.handle_id is not None:
        query = query.where(Lead.handle_id == lead_filter.handle_id)
    if lead_filter.page_id is not None:
        query = query.where(Lead.page_id == lead_filter.page_id)
    if lead_filter.source is not None:
        query = query.where(Lead.source == lead_filter.source)
    if lead_filter.status is not None:
        query = query.where(Lead.status == lead_filter.status)
    if lead_filter.created_after is not None:
        query = query.where(Lead.created_at > lead_filter.created_after)
    if lead_filter.updated_after is not None:
        query = query.where(Lead.updated_at > lead_filter.updated_after)
    if lead_filter.created_from is not None:
        query = query.where(Lead.created_at >= lead_filter.created_from)
    if lead_filter.created_before is not None:
        query = query.where(Lead.created_at < lead_filter.created_before)
    if lead_filter.newsletter_consent is not None:
        query = query.where(Lead.newsletter_consent.is_(lead_filter.newsletter_consent))
    if lead_filter.search:
        query = query.where(_search(lead_filter))
    return query


def _starts_with(column: SQLColumnExpression[str | None], prefix: str) -> ColumnElement[bool]:
    # A range, not LIKE: an index range scan on both databases, with bound parameters.
    return (column >= prefix) & (column < prefix + PREFIX_END)


def _has_prefix(column: SQLColumnExpression[str | None], prefix: str) -> ColumnElement[bool]:
    # The same test, which no index serves: for a prefix most rows have (see `plan_search`).
    return func.substr(column, 1, len(prefix)) == prefix


def _name_forms(prefix: str) -> list[str]:
    """How a name starting with `prefix` is written: as typed lower-cased, Title Case, UPPER."""
    return list(dict.fromkeys((prefix, prefix.title(), prefix.upper())))


def _search(lead_filter: LeadFilter) -> ColumnElement[bool]:
    """An address starting with the search (addresses are stored lower-cased); without an `@`,
    also a name starting with it in lower case, Title Case or UPPER CASE."""
    prefix = (lead_filter.search or "").strip().lower()
    test = _has_prefix if lead_filter.search_scan else _starts_with
    by_email = test(Lead.email, prefix)
    if "@" in prefix:
        return by_email
    return or_(by_email, *(test(Lead.name, form) for form in _name_forms(prefix)))


SEARCH_PROBE = 2000


async def plan_search(session: AsyncSession, lead_filter: LeadFilter) -> LeadFilter:
    """Choose how to search: through the indexes when the prefix is rare (the matches are
    read, sorted newest first, and cut to a page), by reading the newest leads until a page is
    full when it is common (`search_scan`). Reading every match of "a" to sort it would take
    seconds at a million leads; reading the newest ones finds a page of them at once.
    Each probe reads at most `SEARCH_PROBE` index entries."""
    if not lead_filter.search:
        return lead_filter
    prefix = lead_filter.search.strip().lower()
    ranges = [_starts_with(Lead.email, prefix)]
    if "@" not in prefix:
        ranges += [_starts_with(Lead.name, form) for form in _name_forms(prefix)]
    for condition in ranges:
        matches = select(Lead.id).where(condition).limit(SEARCH_PROBE).subquery()
        if (await session.scalar(select(func.count()).select_from(matches)) or 0) >= SEARCH_PROBE:
            return replace(lead_filter, search_scan=True)
    return lead_filter


def _sort_key(lead_filter: LeadFilter, lead: Lead) -> list[str | int]:
    if lead_filter.ordering == BY_UPDATE:
        return [lead.updated_at.isoformat(), lead.id]
    return [lead.id]


def _decode_key(codec: CursorCodec, cursor: str, lead_filter: LeadFilter) -> list[Any]:
    if lead_filter.ordering == BY_UPDATE:
        updated, lead_id = codec.decode(cursor, BY_UPDATE, 2)
        try:
            return [datetime.fromisoformat(updated), int(lead_id)]
        except (TypeError, ValueError) as exc:
            raise InvalidCursor from exc
    (lead_id,) = codec.decode(cursor, BY_ID, 1)
    if not isinstance(lead_id, int):
        raise InvalidCursor
    return [lead_id]


def _decode_newest(codec: CursorCodec, cursor: str) -> tuple[str, int]:
    """The direction ("older" or "newer") and the lead id of a newest-first cursor."""
    direction, lead_id = codec.decode(cursor, BY_NEWEST, 2)
    if direction not in {OLDER, NEWER} or not isinstance(lead_id, int):
        raise InvalidCursor
    return direction, lead_id


async def _fetch_one_query(
    session: AsyncSession,
    lead_filter: LeadFilter,
    after: Sequence[Any] | None,
    limit: int,
    *,
    descending: bool,
) -> list[LeadRow]:
    query = _rows_query(lead_filter)
    if lead_filter.ordering == BY_UPDATE:
        if after is not None:
            query = query.where(tuple_(Lead.updated_at, Lead.id) > tuple_(*after))
        query = query.order_by(Lead.updated_at, Lead.id)
    elif descending:
        if after is not None:
            query = query.where(Lead.id < after[0])
        query = query.order_by(Lead.id.desc())
    else:
        if after is not None:
            query = query.where(Lead.id > after[0])
        query = query.order_by(Lead.id)
    result = await session.execute(query.limit(limit))
    return [LeadRow(lead, slug, name) for lead, slug, name in result]


async def _fetch(
    session: AsyncSession,
    lead_filter: LeadFilter,
    after: Sequence[Any] | None,
    limit: int,
    *,
    backward: bool = False,
) -> list[LeadRow]:
    """Up to `limit` leads after the sort key `after` (before it, `backward`: the newer leads
    of a newest-first list, oldest of them first), each query an index range scan.

    A key restricted to several handles reads each handle's next rows through the
    (handle_id, …) indexes and merges them: one query with `handle_id IN (…)` would have to
    sort every later row of those handles to find the first few.
    """
    descending = lead_filter.newest_first != backward
    visible = lead_filter.visible
    if lead_filter.handle_id is not None or visible is None or len(visible) == 1:
        return await _fetch_one_query(session, lead_filter, after, limit, descending=descending)
    rows: list[LeadRow] = []
    for handle_id in sorted(visible):
        one_handle = replace(lead_filter, handle_id=handle_id)
        rows += await _fetch_one_query(session, one_handle, after, limit, descending=descending)
    rows.sort(key=lambda row: _sort_value(lead_filter, row.lead), reverse=descending)
    return rows[:limit]


def _sort_value(lead_filter: LeadFilter, lead: Lead) -> tuple[Any, ...]:
    if lead_filter.ordering == BY_UPDATE:
        return (lead.updated_at, lead.id)
    return (lead.id,)


async def list_leads(
    session: AsyncSession,
    lead_filter: LeadFilter,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> LeadPage:
    """One page of leads after `cursor`, and the cursor of the next page (None: the last)."""
    lead_filter = await plan_search(session, lead_filter)
    if lead_filter.newest_first:
        return await _list_newest(session, lead_filter, codec=codec, cursor=cursor, limit=limit)
    after = _decode_key(codec, cursor, lead_filter) if cursor else None
    rows = await _fetch(session, lead_filter, after, limit + 1)
    if len(rows) <= limit:
        return LeadPage(rows, None)
    rows = rows[:limit]
    return LeadPage(rows, codec.encode(lead_filter.ordering, _sort_key(lead_filter, rows[-1].lead)))


async def _list_newest(
    session: AsyncSession,
    lead_filter: LeadFilter,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> LeadPage:
    """A newest-first page, with the cursors of the older page and of the newer one.

    "Newer" reads the `limit` leads just above the page's first one; when fewer are left (the
    top was reached, or leads were erased meanwhile) it answers the first page instead, so the
    first page always looks the same however it was reached.
    """
    direction, key = _decode_newest(codec, cursor) if cursor else (OLDER, None)
    if direction == NEWER:
        newer = await _fetch(session, lead_filter, [key], limit + 1, backward=True)
        if len(newer) <= limit:
            return await _list_newest(session, lead_filter, codec=codec, cursor=None, limit=limit)
        rows = newer[:limit][::-1]
        return LeadPage(
            rows,
            codec.encode(BY_NEWEST, [OLDER, rows[-1].lead.id]),
            codec.encode(BY_NEWEST, [NEWER, rows[0].lead.id]),
        )
    rows = await _fetch(session, lead_filter, None if key is None else [key], limit + 1)
    older = len(rows) > limit
    rows = rows[:limit]
    top = rows[0].lead.id if rows else key
    return LeadPage(
        rows,
        codec.encode(BY_NEWEST, [OLDER, rows[-1].lead.id]) if older else None,
        codec.encode(BY_NEWEST, [NEWER, top]) if key is not None and top is not None else None,
    )


async def iter_lead_chunks(
    database: Database, lead_filter: LeadFilter, *, chunk_size: int
) -> AsyncIterator[list[LeadRow]]:
    """Every lead matching the filter, `chunk_size` at a time, each chunk read in a short
    session of its own: memory stays flat and no connection is held while the client reads."""
    after: list[Any] | None = None
    async with database.session(write=False) as session:
        lead_filter = await plan_search(session, lead_filter)
    while True:
        async with database.session(write=False) as session:
            rows = await _fetch(session, lead_filter, after, chunk_size)
        if not rows:
            return
        yield rows
        if len(rows) < chunk_size:
            return
        last = rows[-1].lead
        after = [last.updated_at, last.id] if lead_filter.ordering == BY_UPDATE else [last.id]


async def get_lead(
    session: AsyncSession,
    lead_id: int,
    visible: frozenset[int] | None,
    *,
    for_update: bool = False,
) -> LeadRow:
    """The lead, or `LeadNotFound` when it is unknown, erased or of a handle out of sight;
    `for_update` locks its row (PostgreSQL) for a read-modify-write."""
    query = _rows_query(LeadFilter(visible=visible)).where(Lead.id == lead_id)
    if for_update:
        query = query.with_for_update(of=Lead)
    row = (await session.execute(query)).first()
    if row is None:
        raise LeadNotFound
    return LeadRow(row[0], row[1], row[2])


async def row_of(session: AsyncSession, lead: Lead) -> LeadRow:
    """A lead already in hand with its page's slug and handle's name, what the API's `LeadRead`
    and an email tool's `Contact` say of where it came from (erased or not: no sight applies)."""
    names = (
        await session.execute(
            select(Page.slug, Handle.name)
            .join(Handle, Handle.id == Page.handle_id)
            .where(Page.id == lead.page_id)
        )
    ).one()
    return LeadRow(lead, names.slug, names.name)


async def leads_with_email(
    session: AsyncSession, email: str, visible: frozenset[int] | None
) -> list[LeadRow]:
    """Every visible, unerased lead with this (normalised) address, oldest first."""
    query = _rows_query(LeadFilter(visible=visible)).where(Lead.email == email).order_by(Lead.id)
    return [LeadRow(lead, slug, name) for lead, slug, name in await session.execute(query)]


async def consent_ledger(
    session: AsyncSession, lead_ids: Sequence[int]
) -> dict[int, list[ConsentEvent]]:
    """The consent ledger of each lead, oldest event first."""
    ledger: dict[int, list[ConsentEvent]] = {lead_id: [] for lead_id in lead_ids}
    if lead_ids:
        events = await session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.lead_id.in_(lead_ids))
            .order_by(ConsentEvent.created_at, ConsentEvent.id)
        )
        for event in events:
            ledger[event.lead_id].append(event)
    return ledger


@dataclass(frozen=True, slots=True)
class SentEmail:
    message_id: int
    subject: str
    status: str
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    delivery_id: int
    event_type: str
    endpoint_id: int
    endpoint_url: str
    status: str
    attempts: int
    created_at: datetime


HISTORY_LIMIT = 100


async def lead_emails(session: AsyncSession, lead_id: int) -> list[SentEmail]:
    """The lead's emails in the outbox (rendered when queued), newest first."""
    messages = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.lead_id == lead_id, OutboxMessage.kind == OutboxKind.EMAIL.value)
        .order_by(OutboxMessage.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        SentEmail(
            message.id,
            str(message.payload.get("subject", "")),
            message.status,
            message.created_at,
            message.sent_at,
        )
        for message in messages
    ]


async def lead_webhook_events(session: AsyncSession, lead_id: int) -> list[WebhookEvent]:
    """The webhook deliveries about the lead, newest first."""
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.lead_id == lead_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        WebhookEvent(
            delivery.id,
            delivery.event_type,
            delivery.endpoint_id,
            url,
            delivery.status,
            delivery.attempts,
            delivery.created_at,
        )
        for delivery, url in rows
    ]


def lead_ids_in_sight(sight: frozenset[int] | None) -> Select[int]:
    """The ids of the leads on the handles in `sight` (all for None), as a subquery for the
    domains that keep a `lead_id` without knowing leads (the outbox)."""
    return select(Lead.id).where(visible_only(Lead.handle_id, sight))


async def lead_counts_by_page(session: AsyncSession, page_ids: Sequence[int]) -> dict[int, int]:
    """How many leads each page has (erased ones included: they still count in the reports);
    one grouped query over the `page_id` index, for the admin's list of pages."""
    if not page_ids:
        return {}
    rows = await session.execute(
        select(Lead.page_id, func.count())
        .where(Lead.page_id.in_(list(page_ids)))
        .group_by(Lead.page_id)
    )
    return dict(rows.all())
