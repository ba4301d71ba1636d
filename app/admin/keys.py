"""The API keys section, `/admin/keys`: list, create (the secret shown once) and revoke.

An owner limited to handles sees only the keys restricted to handles all within their sight,
and every key they create is restricted to some of their handles (whatever its scopes: an
`admin` key restricted to handles cannot manage keys and sees only those handles), so no key
made here sees more than its maker.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.admin.dependencies import Owner, OwnerDep
from app.admin.form_errors import errors_of, handles_form_page, validation_errors
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.api_keys import service as api_keys
from app.api_keys.exceptions import ApiKeyNotFound
from app.api_keys.schemas import ApiKeyCreate, ApiKeyRead
from app.db import SessionDep
from app.errors import NotFound, ValidationFailed
from app.webhooks import service as webhooks

__all__ = ["router"]

router = owner_router("/keys")

# What each scope allows, in the words of the form (the scopes themselves are the API's).
SCOPE_HINTS = {
    "leads:read": "Read leads (a CRM sync).",
    "leads:write": "Import, change and erase leads.",
    "pages:write": "Create and change pages and handles.",
    "reports:read": "Read the like-to-lead report.",
    "admin": "Everything, including webhooks; restricted to handles it cannot manage keys.",
}
FORM_MESSAGES = {
    "name": "Give the key a name of one line, up to 100 characters (e.g. the CRM's name).",
    "scopes": "Choose at least one scope.",
    "handles": "Choose up to 50 handles.",
}
Checked = Annotated[list[str] | None, Form()]


async def _key_reads(session: SessionDep, owner: Owner) -> list[ApiKeyRead]:
    keys = await api_keys.list_api_keys(session, sight=owner.sight)
    names = await api_keys.handle_names_by_key(session, [key.id for key in keys])
    return [ApiKeyRead.from_row(key, names.get(key.id, [])) for key in keys]


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
        "admin/keys/new.html",
        active="keys",
        values=values or {"name": "", "scopes": [], "handles": []},
        errors=errors,
        scopes=api_keys.SCOPES,
        scope_hints=SCOPE_HINTS,
    )


@router.get("")
async def list_keys(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return admin_page(
        request, owner, "admin/keys/list.html", active="keys", keys=await _key_reads(session, owner)
    )


@router.get("/new")
async def new_key(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return await _form(request, session, owner)


@router.post("")
async def create_key(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Checked = None,
    handles: Checked = None,
) -> Response:
    """Issue the key and show its secret on this very response (never in a URL, never again)."""
    values: dict[str, object] = {"name": name, "scopes": scopes or [], "handles": handles or []}
    try:
        body = ApiKeyCreate.model_validate(values)
        issued = await api_keys.issue_api_key(
            session,
            name=body.name,
            scopes=body.scopes,
            handle_names=body.handles,
            sight=owner.sight,
        )
    except ValidationError as exc:
        return await _form(
            request, session, owner, values=values, errors=validation_errors(exc, FORM_MESSAGES)
        )
    except (ValidationFailed, NotFound) as exc:  # raised before anything is written
        return await _form(request, session, owner, values=values, errors=errors_of(exc, "handles"))
    names = await api_keys.handle_names_by_key(session, [issued.key.id])
    await session.commit()  # the secret is shown only for a key that exists
    return admin_page(
        request,
        owner,
        "admin/keys/created.html",
        active="keys",
        key=ApiKeyRead.from_row(issued.key, names.get(issued.key.id, [])),
        secret=issued.secret,
    )


@router.post("/{key_id}/revoke")
async def revoke_key(
    key_id: str, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    key = await api_keys.revoke_api_key(
        session, webhooks.parse_id(key_id, ApiKeyNotFound), sight=owner.sight
    )
    return redirect_with_flash(
        request, "/admin/keys", f"The key “{key.name}” is revoked: requests with it now get 401."
    )
