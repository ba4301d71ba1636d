"""What a CRM does with leads through the API: read them page by page, import one, push a
change back.

Every function takes the calling key's handle restriction (`visible`: handle ids, or None for
all): a lead, page or handle outside it does not exist for the caller, exactly like a missing
one. Erased leads are not listed or shown (their rows stay, for the counts).

Pages are keyset pages, never OFFSET. By default leads come in creation order (`id`). With
`updated_after` they come in (updated_at, id) order, so a lead changed while a client walks the
pages moves behind the client's position and is seen again later instead of being skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.handles.models import Handle
from app.handles.visibility import find_visible_handle, sees, visible_only
from app.leads import service as leads
from app.leads.exceptions import InvalidOptIn, LeadNotFound
from app.leads.forms import parse_opt_in_form
from app.leads.models import Lead, LeadStatus
from app.leads.schemas import MAX_FIELDS, LeadCreate, LeadRead, LeadUpdate
from app.leads.tokens import LeadLinks
from app.pages.models import Page
from app.pagination import CursorCodec, InvalidCursor
from app.webhooks import events as webhooks

__all__ = [
    "LeadFilter",
    "LeadPage",
    "LeadRow",
    "get_lead",
    "import_lead",
    "iter_lead_chunks",
    "leads_with_email",
    "list_leads",
    "parse_lead_id",
    "resolve_filter",
    "to_read",
    "update_lead",
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


def to_read(row: LeadRow) -> LeadRead:
    lead = row.lead
    return LeadRead(
        id=str(lead.id),
        email=lead.email,
        name=lead.name,
        fields={str(key): str(value) for key, value in (lead.fields or {}).items()},
        page=row.page_slug,
        page_id=str(lead.page_id),
        handle=row.handle_name,
        handle_id=str(lead.handle_id),
        status=lead.status,
        source=lead.source,
        medium=lead.medium,
        campaign=lead.campaign,
        variant=lead.variant,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        confirmed_at=lead.confirmed_at,
        customer_value=_money(lead.customer_value),
        customer_currency=lead.customer_currency,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def parse_lead_id(raw: str) -> int:
    """A lead id from a URL; anything that is not one is a 404 like an unknown id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise LeadNotFound
    return int(raw)


class _Invisible(NotFound):
    def __init__(self, field: str, what: str, value: str) -> None:
        message = f"There is no {what} {value!r}."
        super().__init__(message, errors=[FieldError(field, message)])


async def _visible_page(session: AsyncSession, slug: str, visible: frozenset[int] | None) -> Page:
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
        page_id=(await _visible_page(session, page, visible)).id if page else None,
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


async def _load(
    session: AsyncSession, lead_id: int, visible: frozenset[int] | None, *, for_update: bool
) -> LeadRow:
    query = _rows_query(LeadFilter(visible=visible)).where(Lead.id == lead_id)
    if for_update:
        query = query.with_for_update(of=Lead)
    row = (await session.execute(query)).first()
    if row is None:
        raise LeadNotFound
    return LeadRow(row[0], row[1], row[2])


async def get_lead(
    session: AsyncSession,
    lead_id: int,
    visible: frozenset[int] | None,
    *,
    for_update: bool = False,
) -> LeadRow:
    """The lead, or `LeadNotFound` when it is unknown, erased or of a handle out of sight;
    `for_update` locks its row (PostgreSQL) for a read-modify-write."""
    return await _load(session, lead_id, visible, for_update=for_update)


async def leads_with_email(
    session: AsyncSession, email: str, visible: frozenset[int] | None
) -> list[LeadRow]:
    """Every visible, unerased lead with this (normalised) address, oldest first."""
    query = _rows_query(LeadFilter(visible=visible)).where(Lead.email == email).order_by(Lead.id)
    return [LeadRow(lead, slug, name) for lead, slug, name in await session.execute(query)]


def _api_field(form_field: str) -> str:
    if form_field.startswith("f_"):
        return "fields." + form_field[2:]
    return form_field if form_field in {"email", "name"} else "body"


def _check_import(page: Page, data: LeadCreate) -> list[tuple[str, str]]:
    """The form's pairs for an import; fields the page does not have are errors here, so
    they can be named (the form itself only says "a field this page does not ask for")."""
    errors: list[FieldError] = []
    if data.name is not None and page.name_field == "off":
        errors.append(FieldError("name", "This page does not ask for a name."))
    known = {str(custom["key"]) for custom in page.custom_fields}
    errors.extend(
        FieldError(f"fields.{key}", f"The page {page.slug!r} has no field {key!r}.")
        for key in sorted(set(data.fields) - known)
    )
    if errors:
        detail = "Some fields are not valid: " + ", ".join(error.field for error in errors)
        raise ValidationFailed(detail, errors=errors)
    pairs = [("email", data.email), ("consent", "yes")]
    if data.name is not None:
        pairs.append(("name", data.name))
    pairs.extend((f"f_{key}", value) for key, value in data.fields.items())
    return pairs


async def import_lead(
    session: AsyncSession,
    data: LeadCreate,
    *,
    visible: frozenset[int] | None,
    links: LeadLinks,
) -> tuple[LeadRow, bool]:
    """Create the lead a CRM sends, or find the one it already is; returns it and whether it
    is new.

    The same rules as the form: email-validator, normalised lower-case address, the page's
    name and custom-field rules, one lead per (page, email). An existing lead is returned as
    it is and nothing is sent. A new `pending` lead gets the page's confirmation email; a new
    `confirmed` one gets nothing (the caller vouches for the consent). The consent ledger
    records the opt-in with `checkbox=false`: nobody ticked leadlink's box.
    """
    page = await _visible_page(session, data.page, visible)
    try:
        form = parse_opt_in_form(page, _check_import(page, data))
    except InvalidOptIn as invalid:
        errors = [FieldError(_api_field(e.field), e.message) for e in invalid.errors]
        raise ValidationFailed(invalid.detail, errors=errors) from invalid
    form = replace(form, consent=False)
    now = utcnow()
    confirmed = data.status == LeadStatus.CONFIRMED.value
    new_id = await session.scalar(
        leads._upsert(session)(Lead)
        .values(
            page_id=page.id,
            handle_id=page.handle_id,
            email=form.email,
            name=form.name,
            fields=form.fields,
            status=data.status,
            source=data.source,
            medium=data.medium or None,
            campaign=data.campaign or None,
            created_at=now,
            updated_at=now,
            confirmed_at=now if confirmed else None,
            confirmation_sent_at=None if confirmed else now,
        )
        .on_conflict_do_nothing(index_elements=["page_id", "email"])
        .returning(Lead.id)
    )
    if new_id is None:
        existing = await session.scalar(
            select(Lead.id).where(Lead.page_id == page.id, Lead.email == form.email)
        )
        if existing is None:  # erased in between: its address is gone, so try again
            return await import_lead(session, data, visible=visible, links=links)
        return await _load(session, existing, visible, for_update=False), False

    lead = await session.get_one(Lead, new_id)
    session.add(leads._consent(lead, page, "opt_in", checkbox=False))
    if confirmed:
        session.add(leads._consent(lead, page, "confirmed", checkbox=False))
    else:
        await leads.queue_email(
            session, lead, leads.confirmation_email(lead.id, lead.email, page, links)
        )
    await session.flush()
    await webhooks.emit(session, "lead.created", lead)
    handle_name = await session.scalar(select(Handle.name).where(Handle.id == page.handle_id))
    return LeadRow(lead, page.slug, handle_name or ""), True


def _merge_fields(lead: Lead, change: dict[str, str | None]) -> dict[str, str]:
    merged = {str(key): str(value) for key, value in (lead.fields or {}).items()}
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_FIELDS:
        message = f"A lead has at most {MAX_FIELDS} custom fields."
        raise ValidationFailed(message, errors=[FieldError("fields", message)])
    return merged


class _StatusConflict(Conflict):
    def __init__(self, current: str, wanted: str) -> None:
        message = f"A lead that is {current} cannot become {wanted} through the API."
        super().__init__(message, errors=[FieldError("status", message)])


class _NotACustomer(Conflict):
    def __init__(self) -> None:
        message = 'Only a customer has a value and currency; send status "customer" as well.'
        super().__init__(message, errors=[FieldError("status", message)])


async def _confirm_without_gift(session: AsyncSession, lead: Lead) -> bool:
    """A CRM confirming a pending lead it got consent for elsewhere; nothing is sent."""
    if lead.status == LeadStatus.CONFIRMED.value:
        return False
    if lead.status != LeadStatus.PENDING.value:
        raise _StatusConflict(lead.status, "confirmed")
    page = await session.get_one(Page, lead.page_id)
    lead.status = LeadStatus.CONFIRMED.value
    lead.confirmed_at = lead.confirmed_at or utcnow()
    session.add(leads._consent(lead, page, "confirmed", checkbox=False))
    await session.flush()
    await webhooks.emit(session, "lead.confirmed", lead)
    return True


async def update_lead(
    session: AsyncSession, lead_id: int, change: LeadUpdate, *, visible: frozenset[int] | None
) -> LeadRow:
    """Apply a CRM's change: status, customer value and currency, custom fields.

    `customer` may follow any status and keeps `unsubscribed_at`; `unsubscribed` is the same
    unsubscribe as the email link's and keeps the customer data; `confirmed` only confirms a
    pending lead (a lead who unsubscribed can only opt in again themselves). A value and
    currency can be set on a lead that is, or once was, a customer.
    """
    row = await _load(session, lead_id, visible, for_update=True)
    lead = row.lead
    updated = False
    if change.status == LeadStatus.UNSUBSCRIBED.value:
        await leads.unsubscribe_lead(session, lead.id)
    elif change.status == LeadStatus.CONFIRMED.value:
        await _confirm_without_gift(session, lead)
    elif change.status == LeadStatus.CUSTOMER.value and lead.status != change.status:
        lead.status = LeadStatus.CUSTOMER.value
        lead.customer_at = lead.customer_at or utcnow()
        updated = True
    if change.value is not None or change.currency is not None:
        if lead.customer_at is None:
            raise _NotACustomer
        currency = change.currency or lead.customer_currency
        if currency is None:
            message = "This customer has no currency yet: send `currency` with the value."
            raise Conflict(message, errors=[FieldError("currency", message)])
        if change.value is not None:
            lead.customer_value = Decimal(change.value)
        lead.customer_currency = currency
        updated = True
    if change.fields is not None:
        merged = _merge_fields(lead, change.fields)
        if merged != lead.fields:
            lead.fields = merged
            updated = True
    if updated:
        lead.updated_at = utcnow()
        await session.flush()
        await webhooks.emit(session, "lead.updated", lead)
    return row
