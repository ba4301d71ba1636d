"""The connections section, `/admin/connections`: connect a shop (Stripe, Shopify, Gumroad)
for some handles, see the webhook URL to paste into it, paste or replace its signing secret
(shown masked after), read what it received, disable, enable and delete it.

Every action is a function of `app.connections.service` with the owner's sight: a connection
for handles outside it is a 404 like a missing one, and an owner's new connection is for some
of their own handles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from app.admin import email_tools
from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.form_errors import errors_of, handles_form_page, restriction_named
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.config import Settings
from app.connections import service as connections
from app.connections.models import Connection
from app.connections.providers import AVAILABLE, CATALOGUE, Kind, info
from app.db import SessionDep
from app.errors import NotFound, ValidationFailed
from app.platforms import setup as platforms

__all__ = ["router"]

router = owner_router("/connections")

EVENTS_SHOWN = 50
MAX_SELLER_ID = 100
Checked = Annotated[list[str] | None, Form()]
MAX_PASTED = 2000
# The platforms' settings the form shows again after an error (their secrets never).
PLATFORM = {
    "youtube_channel_id": "",
    "tiktok_client_key": "",
    "instagram_user_id": "",
    "facebook_page_id": "",
}


async def platform_fields(request: Request) -> dict[str, str]:
    """The platforms' fields of the posted form (`app.platforms.setup.FORM_FIELDS`), each cut
    to `MAX_PASTED` characters (the checks then say what is wrong with it)."""
    form = await request.form()
    return {
        name: value[:MAX_PASTED]
        for name in platforms.FORM_NAMES
        if isinstance(value := form.get(name, ""), str)
    }


def hook_url(settings: Settings, connection: Connection) -> str:
    """The address the provider calls (without Gumroad's key, which is shown once)."""
    return f"{settings.base_url}/hooks/{connection.provider}/{connection.public_id}"


def _page(connection_id: int) -> str:
    return f"/admin/connections/{connection_id}"


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
        "admin/connections/new.html",
        active="connections",
        values=values or {"provider": "", "label": "", "handles": [], "seller_id": "", **PLATFORM},
        errors=errors,
        providers=[item for item in AVAILABLE if item.kind != Kind.EMAIL_TOOL],
    )


async def _connection(session: SessionDep, connection_id: str, owner: Owner) -> Connection:
    return await connections.get_connection(
        session, connections.parse_id(connection_id), owner.sight
    )


@router.get("")
async def list_connections(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    views = await connections.list_connections(session, owner.sight)
    return admin_page(
        request, owner, "admin/connections/list.html", active="connections", connections=views
    )


@router.get("/new")
async def new_connection(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return await _form(request, session, owner)


@router.post("")
async def create_connection(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    provider: Annotated[str, Form(max_length=32)] = "",
    label: Annotated[str, Form(max_length=1000)] = "",
    secret: Annotated[str, Form(max_length=2000)] = "",
    seller_id: Annotated[str, Form(max_length=1000)] = "",
    handles: Checked = None,
) -> Response:
    """Create the connection; a secret leadlink made (Gumroad's URL key) is shown once here."""
    pasted = await platform_fields(request)
    values: dict[str, object] = {
        "provider": provider,
        "label": label,
        "handles": handles or [],
        "seller_id": seller_id,
        **{name: pasted[name] for name in PLATFORM},
    }
    errors: dict[str, str] = {}
    if len(label.strip()) > 200:
        errors["label"] = "Keep the name to 200 characters."
    if provider in CATALOGUE and info(provider).kind == Kind.EMAIL_TOOL:
        errors["provider"] = "Connect an email tool from its own form."
    if len(seller_id.strip()) > MAX_SELLER_ID:
        errors["seller_id"] = f"A seller id has at most {MAX_SELLER_ID} characters."
    if errors:
        return await _form(request, session, owner, values=values, errors=errors)
    try:
        restriction = await restriction_named(session, handles or [], owner.sight)
        if platforms.is_platform(provider):
            connection = await platforms.create_platform_connection(
                session,
                provider=provider,
                label=label,
                handle_ids=restriction,
                form=pasted,
                created_by=owner.user.id,
                cipher=connections.cipher_of(settings),
            )
            await session.commit()
            return redirect_with_flash(
                request, _page(connection.id), "Connected. The first fetch runs within a minute."
            )
        connection, made = await connections.create_connection(
            session,
            provider=provider,
            label=label,
            handle_ids=restriction,
            secret=secret,
            options={"seller_id": seller_id.strip()} if seller_id.strip() else {},
            created_by=owner.user.id,
            cipher=connections.cipher_of(settings),
        )
    except (ValidationFailed, NotFound) as exc:  # raised before anything is written
        return await _form(request, session, owner, values=values, errors=errors_of(exc, "form"))
    await session.commit()  # a made secret is shown only for a connection that exists
    if made is not None:
        return _made_secret(request, owner, settings, connection, made, created=True)
    message = (
        "Connected. Paste the webhook URL below into your shop's settings."
        if connection.secrets
        else "Created. Paste the webhook URL into your shop, then its signing secret here."
    )
    return redirect_with_flash(request, _page(connection.id), message)


def _made_secret(
    request: Request,
    owner: Owner,
    settings: Settings,
    connection: Connection,
    made: str,
    *,
    created: bool,
) -> HTMLResponse:
    return admin_page(
        request,
        owner,
        "admin/connections/secret.html",
        active="connections",
        connection=connection,
        provider=info(connection.provider),
        url=f"{hook_url(settings, connection)}?key={made}",
        created=created,
    )


async def show_page(
    request: Request,
    session: SessionDep,
    owner: Owner,
    settings: Settings,
    connection: Connection,
    *,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """The connection's page; with `errors`, a 422 of a form on it that could not be used."""
    view = await connections.view_of(session, connection)
    return admin_page(
        request,
        owner,
        "admin/connections/show.html",
        active="connections",
        status_code=422 if errors else 200,
        view=view,
        provider=info(connection.provider),
        url=hook_url(settings, connection),
        events=await connections.list_events(session, connection, EVENTS_SHOWN),
        shown=EVENTS_SHOWN,
        platform=await platforms.platform_view(session, connection, view.handles),
        email_tool=await email_tools.email_tool_view(session, connection),
        errors=errors or {},
    )


@router.get("/{connection_id}")
async def show_connection(
    connection_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> HTMLResponse:
    connection = await _connection(session, connection_id, owner)
    return await show_page(request, session, owner, settings, connection)


@router.post("/{connection_id}/secret")
async def replace_secret(
    *,
    connection_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    secret: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Paste (or replace) the signing secret; for Gumroad, make a new URL key (shown once)."""
    connection = await _connection(session, connection_id, owner)
    if platforms.is_platform(connection.provider):
        raise NotFound("A platform's tokens are pasted in their own form.")
    try:
        email_tools.check_api_key(connection.provider, secret)
        made = await connections.set_secret(
            session, connection, secret, connections.cipher_of(settings)
        )
    except ValidationFailed as exc:
        return await show_page(
            request, session, owner, settings, connection, errors=errors_of(exc, "secret")
        )
    if made is not None:
        await session.commit()
        return _made_secret(request, owner, settings, connection, made, created=False)
    requeued = await email_tools.after_new_key(session, connection)
    return redirect_with_flash(request, _page(connection.id), "The secret is saved." + requeued)


@router.post("/{connection_id}/disable")
async def disable(
    connection_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    connection = await _connection(session, connection_id, owner)
    await connections.set_status(session, connection, enabled=False)
    return redirect_with_flash(
        request, _page(connection.id), "Disabled: its webhook URL answers 404 until enabled."
    )


@router.post("/{connection_id}/enable")
async def enable(
    connection_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    connection = await _connection(session, connection_id, owner)
    await connections.set_status(session, connection, enabled=True)
    return redirect_with_flash(request, _page(connection.id), "Enabled.")


@router.post("/{connection_id}/delete")
async def delete(
    connection_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    connection = await _connection(session, connection_id, owner)
    await connections.delete_connection(session, connection)
    return redirect_with_flash(
        request,
        "/admin/connections",
        "The connection, its event log and its sales are deleted; customers stay customers.",
    )
