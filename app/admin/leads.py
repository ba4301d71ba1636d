"""The Leads section, `/admin/leads`: the table (search, filters, newest-first keyset pages), its
CSV export, a lead's detail (consent ledger, attribution, emails, webhook events) with "mark as
customer" and erase, and the privacy form (export or erase everything of one address).

Every read and change goes through `app.leads` with the owner's sight: a lead of a handle out of
sight is a 404, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import leads_page
from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.config import Settings
from app.db import Database, SessionDep
from app.errors import Conflict, ValidationFailed
from app.leads import exports, privacy, queries
from app.leads import service as leads
from app.leads.schemas import LeadUpdate
from app.pagination import MAX_CURSOR_LENGTH, CursorCodecDep, InvalidCursor

__all__ = ["router"]

router = owner_router("/leads")

STALE_CURSOR = "That page link is no longer valid: showing the newest leads."
NOT_FOUND = "No lead with that address on your handles: nothing to export or erase."
UPDATE_MESSAGES = {
    "value": "The value is a number with at most two decimals, e.g. 49.00.",
    "currency": "The currency is a three-letter code, e.g. EUR.",
}


@router.get("")
async def leads_table(
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    codec: CursorCodecDep,
) -> HTMLResponse:
    choices = await leads_page.load_choices(session, owner.sight)
    filters = leads_page.parse_filters(
        request.query_params, choices, sight=owner.sight, tz=settings.report_tz
    )
    cursor = request.query_params.get("cursor") or None
    notes = dict(filters.notes)
    try:
        if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor
        page = await queries.list_leads(
            session, filters.lead_filter, codec=codec, cursor=cursor, limit=leads_page.PAGE_SIZE
        )
    except InvalidCursor:
        notes["cursor"] = STALE_CURSOR
        page = await queries.list_leads(
            session, filters.lead_filter, codec=codec, cursor=None, limit=leads_page.PAGE_SIZE
        )
    return admin_page(
        request,
        owner,
        "admin/leads/list.html",
        active="leads",
        choices=choices,
        filters=filters,
        notes=notes,
        page=page,
        tz=settings.report_tz,
        zone=ZoneInfo(settings.report_tz),
    )


def _chunks(
    database: Database, settings: Settings, lead_filter: queries.LeadFilter
) -> AsyncIterator[list[queries.LeadRow]]:
    return queries.iter_lead_chunks(
        database, lead_filter, chunk_size=settings.api_export_chunk_size
    )


@router.get("/export.csv")
async def export_csv(
    request: Request, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> StreamingResponse:
    """The table's rows (every page, same filters, newest first), streamed chunk by chunk."""
    choices = await leads_page.load_choices(session, owner.sight)
    filters = leads_page.parse_filters(
        request.query_params, choices, sight=owner.sight, tz=settings.report_tz
    )
    database: Database = request.app.state.database
    return StreamingResponse(
        exports.csv_stream(_chunks(database, settings, filters.lead_filter)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="leads.csv"',
            "Cache-Control": "no-store",
        },
    )


def _privacy_page(
    request: Request,
    owner: Owner,
    *,
    status_code: int = 200,
    email: str = "",
    errors: dict[str, str] | None = None,
    note: str | None = None,
) -> HTMLResponse:
    return admin_page(
        request,
        owner,
        "admin/leads/privacy.html",
        active="leads",
        status_code=status_code,
        email=email,
        errors=errors or {},
        note=note,
    )


async def _address_in_sight(
    request: Request, session: AsyncSession, owner: Owner, email: str
) -> str | HTMLResponse:
    """The normalised address, if a lead in sight has it, or the page to answer instead: a 422
    for an address that is not one, a note when no lead in sight has it (the address is not
    repeated: it may be someone's on a handle out of sight)."""
    try:
        address = privacy.normalize_email(email)
    except ValidationFailed as invalid:
        return _privacy_page(
            request, owner, status_code=422, email=email, errors={"email": invalid.detail}
        )
    visible = leads_page.visible_ids(owner.sight)
    if not await queries.leads_with_email(session, address, visible):
        return _privacy_page(request, owner, note=NOT_FOUND)
    return address


@router.get("/privacy")
async def privacy_form(request: Request, owner: OwnerDep) -> HTMLResponse:
    return _privacy_page(request, owner)


@router.post("/privacy/export")
async def privacy_export(
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Everything held about the address on the owner's handles, as a JSON download."""
    address = await _address_in_sight(request, session, owner, email)
    if isinstance(address, HTMLResponse):
        return address
    export = await privacy.export_person(
        session, address, visible=leads_page.visible_ids(owner.sight)
    )
    return Response(
        export.model_dump_json(indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="leadlink-person-export.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/privacy/erase")
async def privacy_erase(
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    email: Annotated[str, Form(max_length=320)] = "",
    confirm_email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Erase every lead of the address on the owner's handles, once the address is retyped."""
    address = await _address_in_sight(request, session, owner, email)
    if isinstance(address, HTMLResponse):
        return address
    if confirm_email.strip().lower() != address:
        message = "Type the same address again to confirm the erasure."
        return _privacy_page(
            request, owner, status_code=422, email=email, errors={"confirm_email": message}
        )
    erased = await privacy.erase_person(
        session, address, visible=leads_page.visible_ids(owner.sight)
    )
    noun = "lead" if erased == 1 else "leads"
    return redirect_with_flash(request, "/admin/leads/privacy", f"Erased {erased} {noun}.")


async def _detail(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    lead_id: str,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    row = await queries.get_lead(
        session, queries.parse_lead_id(lead_id), leads_page.visible_ids(owner.sight)
    )
    lead = row.lead
    ledger = await queries.consent_ledger(session, [lead.id])
    return admin_page(
        request,
        owner,
        "admin/leads/detail.html",
        active="leads",
        status_code=status_code,
        row=row,
        lead=lead,
        consent=ledger[lead.id],
        emails=await queries.lead_emails(session, lead.id),
        webhook_events=await queries.lead_webhook_events(session, lead.id),
        form=form
        or {
            "value": "" if lead.customer_value is None else f"{lead.customer_value:.2f}",
            "currency": lead.customer_currency or "",
        },
        errors=errors or {},
    )


@router.get("/{lead_id}")
async def lead_detail(
    lead_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> HTMLResponse:
    return await _detail(request, session, owner, lead_id)


def _update_errors(error: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "value"
        errors[name] = UPDATE_MESSAGES.get(name, problem["msg"])
    return errors


@router.post("/{lead_id}/customer")
async def mark_customer(
    lead_id: str,
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    value: Annotated[str, Form(max_length=40)] = "",
    currency: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The API's PATCH `{"status": "customer", "value": …, "currency": …}`: same rules, same
    `lead.updated` webhook event."""
    visible = leads_page.visible_ids(owner.sight)
    row = await queries.get_lead(session, queries.parse_lead_id(lead_id), visible)
    form = {"value": value.strip(), "currency": currency.strip()}
    try:
        change = LeadUpdate.model_validate(
            {
                "status": "customer",
                "value": form["value"] or None,
                "currency": form["currency"] or None,
            }
        )
        # In a savepoint: a refused change (409 in the API) leaves nothing half-done behind.
        async with session.begin_nested():
            await leads.update_lead(session, row.lead.id, change, visible=visible)
    except ValidationError as invalid:
        return await _detail(
            request, session, owner, lead_id, status_code=422, form=form,
            errors=_update_errors(invalid),
        )  # fmt: skip
    except (Conflict, ValidationFailed) as refused:
        errors = {error.field: error.message for error in refused.errors} or {
            "value": refused.detail
        }
        return await _detail(
            request, session, owner, lead_id, status_code=422, form=form, errors=errors
        )
    return redirect_with_flash(request, f"/admin/leads/{row.lead.id}", "Marked as customer.")


@router.post("/{lead_id}/erase")
async def erase_lead(
    lead_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    """Erase this lead's personal data for good (the row stays for the counts)."""
    visible = leads_page.visible_ids(owner.sight)
    await privacy.erase_lead(session, queries.parse_lead_id(lead_id), visible=visible)
    return redirect_with_flash(request, "/admin/leads", "The lead was erased.")
