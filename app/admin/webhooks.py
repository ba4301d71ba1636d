"""The webhooks section, `/admin/webhooks`: endpoints (the signing secret shown once, on
creation and on rotation), ping, enable and disable, delete, the delivery log and redelivery.

Every action is a function of `app.webhooks.service`, the same the API calls, with the owner's
sight as the caller's: an endpoint restricted to handles outside it is a 404 like a missing one,
and an owner's new endpoint is restricted to some of their own handles.
"""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.form_errors import (
    errors_of,
    handles_form_page,
    restriction_named,
    validation_errors,
)
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.db import SessionDep
from app.errors import Conflict, NotFound, ValidationFailed
from app.pagination import CursorCodecDep
from app.webhooks import service as webhooks
from app.webhooks.exceptions import DeliveryNotFound, EndpointDisabled
from app.webhooks.models import EndpointStatus
from app.webhooks.schemas import EventType, WebhookCreate, WebhookRead, WebhookUpdate
from app.webhooks.signing import cipher_for

__all__ = ["router"]

router = owner_router("/webhooks")

EVENTS = get_args(EventType)
DELIVERIES_SHOWN = 50
FORM_MESSAGES = {
    "url": "Enter the receiver's address, an http(s) URL of 8 to 2,048 characters.",
    "events": "Choose among the listed events.",
    "description": "Keep the description to one line of up to 500 characters.",
}
DISABLED = "This endpoint is disabled: enable it first, then try again."
Checked = Annotated[list[str] | None, Form()]


def _visible(owner: Owner) -> frozenset[int] | None:
    return None if owner.sight is None else frozenset(owner.sight)


def _page(endpoint_id: int) -> str:
    return f"/admin/webhooks/{endpoint_id}"


async def _read(session: SessionDep, endpoint_id: str, owner: Owner) -> WebhookRead:
    endpoint = await webhooks.get_endpoint(session, webhooks.parse_id(endpoint_id), _visible(owner))
    return (await webhooks.endpoint_reads(session, [endpoint]))[0]


async def _form(
    request: Request,
    session: SessionDep,
    owner: Owner,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return await handles_form_page(
        request,
        session,
        owner,
        "admin/webhooks/new.html",
        active="webhooks",
        values=values or {"url": "", "description": "", "events": [], "handles": []},
        errors=errors,
        events=EVENTS,
    )


@router.get("")
async def list_endpoints(
    request: Request, session: SessionDep, owner: OwnerDep, codec: CursorCodecDep
) -> HTMLResponse:
    page = await webhooks.list_endpoints(
        session, visible=_visible(owner), codec=codec, cursor=None, limit=webhooks.MAX_ENDPOINTS
    )
    return admin_page(
        request, owner, "admin/webhooks/list.html", active="webhooks", endpoints=page.items
    )


@router.get("/new")
async def new_endpoint(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return await _form(request, session, owner)


@router.post("")
async def create_endpoint(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    url: Annotated[str, Form(max_length=4096)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    events: Checked = None,
    handles: Checked = None,
) -> Response:
    """Create the endpoint and show its signing secret on this very response, once."""
    values: dict[str, object] = {
        "url": url,
        "description": description,
        "events": events or [],
        "handles": handles or [],
    }
    try:
        body = WebhookCreate.model_validate(
            {"url": url, "description": description, "events": events or []}
        )
        restriction = await restriction_named(session, handles or [], owner.sight)
        endpoint, secret = await webhooks.create_endpoint(
            session,
            url=body.url,
            event_types=body.events,
            description=body.description,
            visible=restriction,
            cipher=cipher_for(settings.secret_key.get_secret_value()),
            allow_private=settings.webhook_allow_private,
        )
    except ValidationError as exc:
        errors = validation_errors(exc, FORM_MESSAGES)
        return await _form(request, session, owner, values=values, errors=errors)
    except (ValidationFailed, NotFound, Conflict) as exc:  # raised before anything is written
        return await _form(request, session, owner, values=values, errors=errors_of(exc, "url"))
    read = (await webhooks.endpoint_reads(session, [endpoint]))[0]
    await session.commit()  # the secret is shown only for an endpoint that exists
    return admin_page(
        request,
        owner,
        "admin/webhooks/secret.html",
        active="webhooks",
        endpoint=read,
        secret=secret,
        created=True,
    )


@router.get("/{endpoint_id}")
async def show_endpoint(
    endpoint_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    codec: CursorCodecDep,
) -> HTMLResponse:
    endpoint = await _read(session, endpoint_id, owner)
    log = await webhooks.list_deliveries(
        session,
        int(endpoint.id),
        visible=_visible(owner),
        status=None,
        codec=codec,
        cursor=None,
        limit=DELIVERIES_SHOWN,
    )
    return admin_page(
        request,
        owner,
        "admin/webhooks/show.html",
        active="webhooks",
        endpoint=endpoint,
        deliveries=log.items,
        more=log.next_cursor is not None,
        shown=DELIVERIES_SHOWN,
    )


@router.post("/{endpoint_id}/rotate")
async def rotate_secret(
    endpoint_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    endpoint, secret = await webhooks.rotate_secret(
        session,
        webhooks.parse_id(endpoint_id),
        visible=_visible(owner),
        cipher=cipher_for(settings.secret_key.get_secret_value()),
    )
    read = (await webhooks.endpoint_reads(session, [endpoint]))[0]
    await session.commit()
    return admin_page(
        request,
        owner,
        "admin/webhooks/secret.html",
        active="webhooks",
        endpoint=read,
        secret=secret,
        created=False,
    )


@router.post("/{endpoint_id}/ping")
async def ping(
    endpoint_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    endpoint_number = webhooks.parse_id(endpoint_id)
    try:
        await webhooks.ping(session, endpoint_number, visible=_visible(owner))
    except EndpointDisabled:
        return redirect_with_flash(request, _page(endpoint_number), DISABLED)
    return redirect_with_flash(
        request, _page(endpoint_number), "Ping queued: it appears in the delivery log below."
    )


async def _set_status(
    request: Request, session: SessionDep, owner: Owner, endpoint_id: str, status: str
) -> Response:
    endpoint = await webhooks.update_endpoint(
        session,
        webhooks.parse_id(endpoint_id),
        WebhookUpdate(status=status),
        visible=_visible(owner),
        allow_private=True,  # the URL is not changed, so it is not checked again
    )
    state = "enabled" if status == EndpointStatus.ACTIVE.value else "disabled: nothing is sent"
    return redirect_with_flash(request, _page(endpoint.id), f"The endpoint is {state}.")


@router.post("/{endpoint_id}/enable")
async def enable(
    endpoint_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    return await _set_status(request, session, owner, endpoint_id, EndpointStatus.ACTIVE.value)


@router.post("/{endpoint_id}/disable")
async def disable(
    endpoint_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    return await _set_status(request, session, owner, endpoint_id, EndpointStatus.DISABLED.value)


@router.post("/{endpoint_id}/delete")
async def delete(
    endpoint_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    await webhooks.delete_endpoint(session, webhooks.parse_id(endpoint_id), _visible(owner))
    return redirect_with_flash(
        request, "/admin/webhooks", "The endpoint and its delivery log are deleted."
    )


@router.post("/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    endpoint_id: str, delivery_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    endpoint_number = webhooks.parse_id(endpoint_id)
    try:
        await webhooks.redeliver(
            session,
            endpoint_number,
            webhooks.parse_id(delivery_id, DeliveryNotFound),
            visible=_visible(owner),
        )
    except EndpointDisabled:
        return redirect_with_flash(request, _page(endpoint_number), DISABLED)
    except Conflict as exc:  # the payload is no longer kept
        return redirect_with_flash(request, _page(endpoint_number), exc.detail)
    return redirect_with_flash(
        request, _page(endpoint_number), "The event is queued again as a new delivery."
    )
