"""The email tools' part of `/admin/connections`: connect Mailchimp, Kit or Brevo (API key,
list, the owner's tags, "Also add gift-only sign-ups"), change those settings, and "Send
confirmed leads" (a backfill through the outbox). The connection's page, status, event log,
disable and delete are the connections section's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.form_errors import errors_of, handles_form_page, restriction_named
from app.admin.layout import owner_router, redirect_with_flash
from app.connections import service as connections
from app.connections.exceptions import ConnectionNotFound, InvalidConnection
from app.connections.models import Connection
from app.connections.providers import AVAILABLE, Kind, info
from app.db import SessionDep
from app.email_tools import service as email_tools
from app.errors import NotFound, ValidationFailed
from app.leads.email_tools import send_existing

__all__ = ["after_new_key", "check_api_key", "email_tool_view", "router"]

router = owner_router("/connections")

Checked = Annotated[list[str] | None, Form()]
EMAIL_TOOLS = tuple(item for item in AVAILABLE if item.kind == Kind.EMAIL_TOOL)


def _page(connection_id: int) -> str:
    return f"/admin/connections/{connection_id}"


async def email_tool_view(session: AsyncSession, connection: Connection) -> dict[str, Any] | None:
    """What the connection's page shows of an email tool (None for another kind)."""
    if info(connection.provider).kind != Kind.EMAIL_TOOL:
        return None
    return {
        "summary": await email_tools.summary(session, connection),
        "list_id": connection.settings.get(email_tools.LIST_ID, ""),
        "tags": ", ".join(connection.settings.get(email_tools.TAGS) or []),
        "gift_list": bool(connection.settings.get(email_tools.GIFT_LIST)),
    }


async def after_new_key(session: AsyncSession, connection: Connection) -> str:
    """A new key pasted: what failed for want of one is queued again."""
    if info(connection.provider).kind != Kind.EMAIL_TOOL:
        return ""
    queued = await send_existing(session, connection)
    return f" {queued} leads queued for {info(connection.provider).label}." if queued else ""


async def _email_tool(session: AsyncSession, connection_id: str, owner: Owner) -> Connection:
    """The owner's email-tool connection; another kind is a 404 like a missing one."""
    connection = await connections.get_connection(
        session, connections.parse_id(connection_id), owner.sight
    )
    if info(connection.provider).kind != Kind.EMAIL_TOOL:
        raise ConnectionNotFound
    return connection


async def _form(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return await handles_form_page(
        request,
        session,
        owner,
        "admin/connections/new_email_tool.html",
        active="connections",
        values=values
        or {"provider": "", "label": "", "handles": [], "list_id": "", "tags": "", "gift": ""},
        errors=errors,
        providers=EMAIL_TOOLS,
    )


@router.get("/email-tools/new")
async def new_email_tool(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return await _form(request, session, owner)


@router.post("/email-tools")
async def create_email_tool(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    provider: Annotated[str, Form(max_length=32)] = "",
    label: Annotated[str, Form(max_length=1000)] = "",
    secret: Annotated[str, Form(max_length=2000)] = "",
    list_id: Annotated[str, Form(max_length=1000)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    gift_list: Annotated[str, Form(max_length=10)] = "",
    handles: Checked = None,
) -> Response:
    """Connect an email tool: its key is required (nothing can be sent without it)."""
    values: dict[str, object] = {
        "provider": provider,
        "label": label,
        "handles": handles or [],
        "list_id": list_id,
        "tags": tags,
        "gift": gift_list,
    }
    if len(label.strip()) > 200:
        errors = {"label": "Keep the name to 200 characters."}
        return await _form(request, session, owner, values=values, errors=errors)
    try:
        if provider not in {item.provider.value for item in EMAIL_TOOLS}:
            raise ValidationFailed("Choose one of the listed email tools.")
        if not secret.strip():
            raise InvalidConnection("secret", "Paste the tool's API key.")
        email_tools.check_api_key(provider, secret)
        options = email_tools.tool_options(
            provider, list_id=list_id, tags=tags, gift_list=bool(gift_list)
        )
        restriction = await restriction_named(session, handles or [], owner.sight)
        connection, _ = await connections.create_connection(
            session,
            provider=provider,
            label=label,
            handle_ids=restriction,
            secret=secret,
            options=options,
            created_by=owner.user.id,
            cipher=connections.cipher_of(settings),
        )
    except (ValidationFailed, NotFound) as exc:  # raised before anything is written
        return await _form(request, session, owner, values=values, errors=errors_of(exc, "form"))
    label_of = info(provider).label
    return redirect_with_flash(
        request,
        _page(connection.id),
        f"Connected. New confirmed leads go to {label_of}; "
        "“Send confirmed leads” sends those you already have.",
    )


@router.post("/{connection_id}/email-tool")
async def change_email_tool(
    *,
    connection_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    list_id: Annotated[str, Form(max_length=1000)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    gift_list: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Change the list, the tags or the gift-list choice (applies to leads sent from now)."""
    connection = await _email_tool(session, connection_id, owner)
    try:
        options = email_tools.tool_options(
            connection.provider, list_id=list_id, tags=tags, gift_list=bool(gift_list)
        )
    except ValidationFailed as exc:
        message = next(iter(errors_of(exc, "form").values()))
        return redirect_with_flash(request, _page(connection.id), f"Not saved: {message}")
    kept = {key: value for key, value in connection.settings.items() if key != email_tools.TAGS}
    connection.settings = {**kept, **options}
    await session.flush()
    return redirect_with_flash(request, _page(connection.id), "The settings are saved.")


@router.post("/{connection_id}/send-existing")
async def send_existing_leads(
    connection_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    """Queue the confirmed leads the tool does not have yet (and those that failed)."""
    connection = await _email_tool(session, connection_id, owner)
    queued = await send_existing(session, connection)
    label = info(connection.provider).label
    message = (
        f"{queued} leads queued for {label}; they appear in the event log as they are sent."
        if queued
        else f"Nothing to send: {label} has every confirmed lead it should."
    )
    return redirect_with_flash(request, _page(connection.id), message)


def check_api_key(provider: str, secret: str) -> None:
    """The connections section's secret form, for an email tool's key."""
    email_tools.check_api_key(provider, secret)
