"""The life of a lead: opt-in, confirmation, gift delivery, unsubscribe, and the changes a CRM
makes through the API (import, status, customer value, custom fields).

Every function works inside the caller's transaction and queues its emails in the outbox of that
same transaction, so a lead and its emails are committed together or not at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.delivery import service as delivery
from app.delivery.models import OutboxKind
from app.delivery.service import RenderedEmail
from app.errors import Conflict, FieldError, ValidationFailed
from app.handles.models import Handle
from app.leads import events, queries
from app.leads.exceptions import InvalidOptIn, LeadNotFound
from app.leads.forms import OptInForm, parse_opt_in_form
from app.leads.models import ConsentEvent, Lead, LeadStatus
from app.leads.schemas import MAX_FIELDS, LeadCreate, LeadUpdate
from app.leads.tokens import LeadLinks
from app.links.attribution import FormAttribution
from app.pages.models import GiftKind, Page
from app.pages.rendering import GiftView

__all__ = [
    "RESEND_THROTTLE",
    "Confirmation",
    "confirm_lead",
    "confirmation_context",
    "confirmation_email",
    "consent_values",
    "get_lead_and_page",
    "gift_context",
    "gift_email",
    "gift_view",
    "import_lead",
    "new_lead_values",
    "owner_wording",
    "preview_emails",
    "queue_email",
    "submit_opt_in",
    "unsubscribe_lead",
    "update_lead",
    "welcome_email",
]

# A repeat submission re-sends the confirmation (or the gift) at most this often.
RESEND_THROTTLE = timedelta(minutes=10)
CONFIRMED_STATES = (LeadStatus.CONFIRMED.value, LeadStatus.CUSTOMER.value)


def gift_view(page: Page, lead_id: int, links: LeadLinks) -> GiftView:
    return _gift_view(page, links.gift(lead_id))


def _gift_view(page: Page, file_link: str) -> GiftView:
    kind = page.gift_kind
    return GiftView(
        kind=kind,
        title=page.gift_title,
        link=(
            page.gift_value
            if kind == GiftKind.URL.value
            else file_link
            if kind == GiftKind.FILE.value
            else None
        ),
        code=page.gift_value if kind == GiftKind.CODE.value else None,
        text=page.gift_value if kind == GiftKind.TEXT.value else None,
        file_name=page.gift_file_name if kind == GiftKind.FILE.value else None,
    )


def _upsert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def consent_values(
    lead_id: int, page: Page, kind: str, *, checkbox: bool, source: str | None
) -> dict[str, Any]:
    """The consent ledger's row: which text (and version) the person agreed to, and how."""
    return {
        "lead_id": lead_id,
        "kind": kind,
        "consent_text": page.consent_text,
        "consent_version": page.consent_version,
        "checkbox": checkbox,
        "source": source,
    }


def _consent(lead: Lead, page: Page, kind: str, *, checkbox: bool) -> ConsentEvent:
    return ConsentEvent(
        **consent_values(lead.id, page, kind, checkbox=checkbox, source=lead.source)
    )


def owner_wording(text: str, **values: str) -> str:
    """The page owner's email subject or text with `{name}`, `{page_title}` and `{gift_title}`
    filled in. Plain replacement, not a template: an owner's braces cannot reach anything else,
    and the email templates escape the result where it goes into HTML."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def confirmation_context(page: Page, confirm_url: str, unsubscribe_url: str) -> dict[str, Any]:
    """What the confirmation email is rendered from: the page's own subject and text when set
    (the confirm and unsubscribe links are added by the template either way)."""
    values = {"name": "", "page_title": page.title, "gift_title": page.gift_title}
    return {
        "page_title": page.title,
        "gift_title": page.gift_title,
        "custom_subject": owner_wording(page.confirm_subject or "", **values),
        "custom_text": owner_wording(page.confirm_text or "", **values),
        "confirm_url": confirm_url,
        "unsubscribe_url": unsubscribe_url,
    }


def gift_context(
    page: Page, name: str | None, gift: GiftView, unsubscribe_url: str
) -> dict[str, Any]:
    """What the gift email is rendered from (the gift and unsubscribe link always follow the
    page's own text)."""
    values = {"name": name or "", "page_title": page.title, "gift_title": page.gift_title}
    return {
        "name": name or "",
        "page_title": page.title,
        "custom_subject": owner_wording(page.gift_subject or "", **values),
        "custom_text": owner_wording(page.gift_text or "", **values),
        "gift": {
            "kind": gift.kind,
            "title": gift.title,
            "link": gift.link,
            "code": gift.code,
            "text": gift.text,
            "file_name": gift.file_name,
        },
        "unsubscribe_url": unsubscribe_url,
    }


def confirmation_email(
    lead_id: int, email: str, page: Page, links: LeadLinks, *, recipient_checked: bool = False
) -> dict[str, Any]:
    """The outbox payload asking to confirm the address. It is sent before the address is
    confirmed, so nothing the visitor typed besides the address goes in."""
    return delivery.email_payload(
        email,
        "confirm",
        confirmation_context(page, links.confirm(lead_id), links.unsubscribe(lead_id)),
        recipient_checked=recipient_checked,
    )


def gift_email(
    lead_id: int,
    email: str,
    name: str | None,
    page: Page,
    links: LeadLinks,
    *,
    recipient_checked: bool = False,
) -> dict[str, Any]:
    """The outbox payload delivering the gift (to a confirmed address)."""
    gift = gift_view(page, lead_id, links)
    return delivery.email_payload(
        email,
        "gift",
        gift_context(page, name, gift, links.unsubscribe(lead_id)),
        recipient_checked=recipient_checked,
    )


def preview_emails(page: Page, base_url: str) -> dict[str, RenderedEmail]:
    """The confirmation and gift emails of `page` as a lead would get them, with sample links
    (for the owner's editor; nothing is queued)."""
    sample = f"{base_url.rstrip('/')}/{{}}/sample-link"
    gift = _gift_view(page, sample.format("g"))
    return {
        "confirm": delivery.render_email(
            "confirm", confirmation_context(page, sample.format("c"), sample.format("u"))
        ),
        "gift": delivery.render_email("gift", gift_context(page, "Alex", gift, sample.format("u"))),
    }


def welcome_email(lead_id: int, page: Page, form: OptInForm, links: LeadLinks) -> dict[str, Any]:
    """The first email of a new lead: the gift without double opt-in, else the confirmation."""
    # The form validated the address a moment ago; its recipient form needs no second check.
    to, checked = (form.recipient, True) if form.recipient else (form.email, False)
    if page.double_opt_in:
        return confirmation_email(lead_id, to, page, links, recipient_checked=checked)
    return gift_email(lead_id, to, form.name, page, links, recipient_checked=checked)


async def queue_email(session: AsyncSession, lead: Lead, payload: dict[str, Any]) -> None:
    """Put an email payload (`confirmation_email`, `gift_email`) in the lead's outbox."""
    await delivery.enqueue(session, OutboxKind.EMAIL, payload, lead_id=lead.id)


def new_lead_values(
    page: Page, form: OptInForm, attribution: FormAttribution | None, now: datetime
) -> dict[str, Any]:
    """The `leads` row of a first opt-in: pending, or confirmed (gift sent) without double
    opt-in, with the visit's attribution when the form carried a valid one, and the newsletter
    consent (the box) and consent version of this submission."""
    confirmed = not page.double_opt_in
    return {
        "page_id": page.id,
        "handle_id": page.handle_id,
        "email": form.email,
        "name": form.name,
        "fields": form.fields,
        "status": LeadStatus.CONFIRMED.value if confirmed else LeadStatus.PENDING.value,
        "source": attribution.source if attribution else "direct",
        "medium": attribution.medium if attribution else None,
        "campaign": attribution.campaign if attribution else None,
        "variant": attribution.variant if attribution else None,
        "newsletter_consent": form.consent,
        "consent_version": page.consent_version,
        "route_id": attribution.route_id if attribution else None,
        "visit_ref": attribution.visit_ref if attribution else None,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": now if confirmed else None,
        "confirmation_sent_at": None if confirmed else now,
        "gift_sent_at": now if confirmed else None,
    }


async def _claim_resend(session: AsyncSession, lead_id: int, column: Any, now: datetime) -> bool:
    """Atomically take the right to re-send (at most once per RESEND_THROTTLE).

    On PostgreSQL a lead row locked by another transaction is skipped rather than waited for:
    that transaction is handling the same address right now, so a burst of repeats does not
    queue up behind one row lock. (SQLite serialises writers anyway.)
    """
    due = or_(column.is_(None), column < now - RESEND_THROTTLE)
    target = select(Lead.id).where(Lead.id == lead_id, due)
    if session.get_bind().dialect.name == "postgresql":
        target = target.with_for_update(skip_locked=True, key_share=True)  # NO KEY UPDATE
    result = await session.execute(
        update(Lead)
        .where(Lead.id == target.scalar_subquery(), due)
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def submit_opt_in(
    session: AsyncSession,
    page: Page,
    form: OptInForm,
    attribution: FormAttribution | None,
    links: LeadLinks,
) -> int | None:
    """Store the opt-in once per (page, email) and queue the right email; returns the lead's id.

    A repeat submission never creates a second row and looks the same from outside: a pending
    lead gets its confirmation again, a confirmed one its gift again, each at most once per
    ten minutes. Concurrent submissions of one address race on the unique key, not on a read.
    """
    now = utcnow()
    confirmed = not page.double_opt_in
    lead: Lead | None = await session.scalar(
        _upsert(session)(Lead)
        .values(new_lead_values(page, form, attribution, now))
        .on_conflict_do_nothing(index_elements=["page_id", "email"])
        .returning(Lead)
    )
    if lead is not None:
        session.add(_consent(lead, page, "opt_in", checkbox=form.consent))
        await queue_email(session, lead, welcome_email(lead.id, page, form, links))
        await events.announce(session, "lead.created", lead)
        return lead.id

    existing = await session.scalar(
        select(Lead).where(Lead.page_id == page.id, Lead.email == form.email)
    )
    if existing is None or existing.erased_at is not None:
        return None  # erased meanwhile: behave exactly as for a known address
    lead = existing
    consent_changed = await _take_latest_consent(session, lead, page, form, now)
    if lead.status in CONFIRMED_STATES:
        if await _claim_resend(session, lead.id, Lead.gift_sent_at, now):
            await queue_email(
                session, lead, gift_email(lead.id, lead.email, lead.name, page, links)
            )
        return lead.id
    if not consent_changed:  # a change is in the ledger already
        session.add(_consent(lead, page, "opt_in", checkbox=form.consent))
    if lead.status == LeadStatus.UNSUBSCRIBED.value and confirmed:
        await _resubscribe(session, lead, page, now)
        if await _claim_resend(session, lead.id, Lead.gift_sent_at, now):
            await queue_email(
                session, lead, gift_email(lead.id, lead.email, lead.name, page, links)
            )
        return lead.id
    if await _claim_resend(session, lead.id, Lead.confirmation_sent_at, now):
        await queue_email(session, lead, confirmation_email(lead.id, lead.email, page, links))
    return lead.id


async def _take_latest_consent(
    session: AsyncSession, lead: Lead, page: Page, form: OptInForm, now: datetime
) -> bool:
    """A repeat opt-in's newsletter box and consent version replace the lead's (they are
    always those of the latest opt-in); whether they changed.

    A change is recorded in the ledger and announced as `lead.updated`, so a CRM syncing by
    `updated_at` or by webhook learns that the person ticked (or unticked) the box. An
    unchanged repeat writes nothing here, so a burst of repeats takes no row lock.
    """
    latest = (form.consent, page.consent_version)
    if (lead.newsletter_consent, lead.consent_version) == latest:
        return False
    lead.newsletter_consent, lead.consent_version = latest
    lead.updated_at = now
    session.add(_consent(lead, page, "opt_in", checkbox=form.consent))
    await session.flush()
    await events.announce(session, "lead.updated", lead)
    return True


async def _resubscribe(session: AsyncSession, lead: Lead, page: Page, now: datetime) -> None:
    lead.status = LeadStatus.CONFIRMED.value
    lead.unsubscribed_at = None
    lead.confirmed_at = lead.confirmed_at or now
    session.add(_consent(lead, page, "resubscribed", checkbox=True))
    await session.flush()
    await events.announce(session, "lead.confirmed", lead)


async def get_lead_and_page(session: AsyncSession, lead_id: int) -> tuple[Lead, Page]:
    """The lead and its page, or `LeadNotFound` (also for an erased lead)."""
    row = (
        await session.execute(
            select(Lead, Page).join(Page, Page.id == Lead.page_id).where(Lead.id == lead_id)
        )
    ).first()
    if row is None or row[0].erased_at is not None:
        raise LeadNotFound
    return row[0], row[1]


class Confirmation(StrEnum):
    """What following a confirmation link did."""

    CONFIRMED = "confirmed"  # first click: confirmed, gift queued, announced
    ALREADY = "already"  # confirmed before: shows the gift again, sends nothing
    UNSUBSCRIBED = "unsubscribed"  # unsubscribed since: the link changes nothing


async def confirm_lead(
    session: AsyncSession, lead_id: int, links: LeadLinks, *, link_issued_at: datetime
) -> tuple[Lead, Page, Confirmation]:
    """Confirm the address (double opt-in) and queue the gift once.

    Returns the lead, its page and what the click did. A second click is harmless: it shows
    the gift again and sends nothing. A lead who unsubscribed is resubscribed only by a link
    issued after the unsubscribe, i.e. one a new opt-in on the page sent; an older link
    changes nothing at all, because mail scanners follow every GET and must not undo an
    unsubscribe. (Issue times are whole seconds: a link from the second of the unsubscribe
    counts as older.)
    """
    lead, page = await get_lead_and_page(session, lead_id)
    if lead.status in CONFIRMED_STATES:
        return lead, page, Confirmation.ALREADY
    was_unsubscribed = lead.status == LeadStatus.UNSUBSCRIBED.value
    if was_unsubscribed and not _issued_after_unsubscribe(lead, link_issued_at):
        return lead, page, Confirmation.UNSUBSCRIBED
    now = utcnow()
    lead.status = LeadStatus.CONFIRMED.value
    lead.confirmed_at = lead.confirmed_at or now
    lead.unsubscribed_at = None
    lead.gift_sent_at = now
    session.add(
        _consent(lead, page, "resubscribed" if was_unsubscribed else "confirmed", checkbox=True)
    )
    await session.flush()
    await events.announce(session, "lead.confirmed", lead)
    await queue_email(session, lead, gift_email(lead.id, lead.email, lead.name, page, links))
    return lead, page, Confirmation.CONFIRMED


def _issued_after_unsubscribe(lead: Lead, link_issued_at: datetime) -> bool:
    return lead.unsubscribed_at is not None and link_issued_at > lead.unsubscribed_at


async def unsubscribe_lead(session: AsyncSession, lead_id: int) -> Lead:
    """Stop every email to this lead (idempotent). A customer keeps its customer data."""
    lead, page = await get_lead_and_page(session, lead_id)
    if lead.status != LeadStatus.UNSUBSCRIBED.value:
        lead.status = LeadStatus.UNSUBSCRIBED.value
        lead.unsubscribed_at = utcnow()
        session.add(_consent(lead, page, "unsubscribed", checkbox=False))
        await session.flush()
        await events.announce(session, "lead.unsubscribed", lead)
    return lead


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
) -> tuple[queries.LeadRow, bool]:
    """Create the lead a CRM sends, or find the one it already is; returns it and whether it
    is new.

    The same rules as the form: email-validator, normalised lower-case address, the page's
    name and custom-field rules, one lead per (page, email). An existing lead is returned as
    it is and nothing is sent. A new `pending` lead gets the page's confirmation email; a new
    `confirmed` one gets nothing (the caller vouches for the consent). The consent ledger
    records the opt-in with `checkbox=false`: nobody ticked leadlink's box.
    """
    page = await queries.find_visible_page(session, data.page, visible)
    try:
        form = parse_opt_in_form(page, _check_import(page, data))
    except InvalidOptIn as invalid:
        errors = [FieldError(_api_field(e.field), e.message) for e in invalid.errors]
        raise ValidationFailed(invalid.detail, errors=errors) from invalid
    form = replace(form, consent=False)
    now = utcnow()
    confirmed = data.status == LeadStatus.CONFIRMED.value
    new_id = await session.scalar(
        _upsert(session)(Lead)
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
            newsletter_consent=False,
            consent_version=page.consent_version,
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
        return await queries.get_lead(session, existing, visible), False

    lead = await session.get_one(Lead, new_id)
    session.add(_consent(lead, page, "opt_in", checkbox=False))
    if confirmed:
        session.add(_consent(lead, page, "confirmed", checkbox=False))
    else:
        await queue_email(session, lead, confirmation_email(lead.id, lead.email, page, links))
    await session.flush()
    await events.announce(session, "lead.created", lead)
    handle_name = await session.scalar(select(Handle.name).where(Handle.id == page.handle_id))
    return queries.LeadRow(lead, page.slug, handle_name or ""), True


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
    session.add(_consent(lead, page, "confirmed", checkbox=False))
    await session.flush()
    await events.announce(session, "lead.confirmed", lead)
    return True


async def update_lead(
    session: AsyncSession, lead_id: int, change: LeadUpdate, *, visible: frozenset[int] | None
) -> queries.LeadRow:
    """Apply a CRM's change: status, customer value and currency, custom fields.

    `customer` may follow any status and keeps `unsubscribed_at`; `unsubscribed` is the same
    unsubscribe as the email link's and keeps the customer data; `confirmed` only confirms a
    pending lead (a lead who unsubscribed can only opt in again themselves). A value and
    currency can be set on a lead that is, or once was, a customer.
    """
    row = await queries.get_lead(session, lead_id, visible, for_update=True)
    lead = row.lead
    updated = False
    if change.status == LeadStatus.UNSUBSCRIBED.value:
        await unsubscribe_lead(session, lead.id)
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
        await events.announce(session, "lead.updated", lead)
    return row
