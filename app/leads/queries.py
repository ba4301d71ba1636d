"""The statements that read leads: keyset pages in a stable order, one lead, one person's leads,
and exports in chunks.

Every function takes the caller's handle restriction (`visible`: handle ids, or None for all): a
lead, page or handle outside it does not exist for the caller, exactly like a missing one.
Erased leads are not listed or shown (their rows stay, for the counts).

Pages are keyset pages, never OFFSET. By default leads come in creation order (`id`). With
`updated_after` they come in (updated_at, id) order, so a lead changed while a client walks the
pages moves behind the client's position and is seen again later instead of being skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.errors import FieldError, NotFound
from app.handles.models import Handle
from app.handles.visibility import find_visible_handle, sees, visible_only
from app.leads.exceptions import LeadNotFound
from app.leads.models import Lead
from app.pages.models import Page
from app.pagination import CursorCodec, InvalidCursor

__all__ = [
    "BY_ID",
    "BY_UPDATE",
    "LeadFilter",
    "LeadPage",
    "LeadRow",
    "find_visible_page",
    "get_lead",
    "iter_lead_chunks",
    "lead_counts_by_page",
    "lead_ids_in_sight",
    "leads_with_email",
    "list_leads",
    "parse_lead_id",
    "resolve_filter",
]

BY_ID = "leads-id"
BY_UPDATE = "leads-updated"


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

    @property
    def ordering(self) -> str:
        return BY_UPDATE if self.updated_after is not None else BY_ID


@dataclass(frozen=True, slots=True)
class LeadPage:
    rows: list[LeadRow]
    next_cursor: str | None


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
    page = await session.scalar(select(Page).where(Page.slug == slug.strip().lower()))
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
    return query


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


async def _fetch_one_query(
    session: AsyncSession, lead_filter: LeadFilter, after: Sequence[Any] | None, limit: int
) -> list[LeadRow]:
    query = _rows_query(lead_filter)
    if lead_filter.ordering == BY_UPDATE:
        if after is not None:
            query = query.where(tuple_(Lead.updated_at, Lead.id) > tuple_(*after))
        query = query.order_by(Lead.updated_at, Lead.id)
    else:
        if after is not None:
            query = query.where(Lead.id > after[0])
        query = query.order_by(Lead.id)
    result = await session.execute(query.limit(limit))
    return [LeadRow(lead, slug, name) for lead, slug, name in result]


async def _fetch(
    session: AsyncSession, lead_filter: LeadFilter, after: Sequence[Any] | None, limit: int
) -> list[LeadRow]:
    """Up to `limit` leads after the sort key `after`, each query an index range scan.

    A key restricted to several handles reads each handle's next rows through the
    (handle_id, …) indexes and merges them: one query with `handle_id IN (…)` would have to
    sort every later row of those handles to find the first few.
    """
    visible = lead_filter.visible
    if lead_filter.handle_id is not None or visible is None or len(visible) == 1:
        return await _fetch_one_query(session, lead_filter, after, limit)
    rows: list[LeadRow] = []
    for handle_id in sorted(visible):
        one_handle = replace(lead_filter, handle_id=handle_id)
        rows += await _fetch_one_query(session, one_handle, after, limit)
    return sorted(rows, key=lambda row: _sort_value(lead_filter, row.lead))[:limit]


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
    after = _decode_key(codec, cursor, lead_filter) if cursor else None
    rows = await _fetch(session, lead_filter, after, limit + 1)
    if len(rows) <= limit:
        return LeadPage(rows, None)
    rows = rows[:limit]
    return LeadPage(rows, codec.encode(lead_filter.ordering, _sort_key(lead_filter, rows[-1].lead)))


async def iter_lead_chunks(
    database: Database, lead_filter: LeadFilter, *, chunk_size: int
) -> AsyncIterator[list[LeadRow]]:
    """Every lead matching the filter, `chunk_size` at a time, each chunk read in a short
    session of its own: memory stays flat and no connection is held while the client reads."""
    after: list[Any] | None = None
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


async def leads_with_email(
    session: AsyncSession, email: str, visible: frozenset[int] | None
) -> list[LeadRow]:
    """Every visible, unerased lead with this (normalised) address, oldest first."""
    query = _rows_query(LeadFilter(visible=visible)).where(Lead.email == email).order_by(Lead.id)
    return [LeadRow(lead, slug, name) for lead, slug, name in await session.execute(query)]


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
