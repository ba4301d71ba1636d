"""What the forms of the admin UI share: a domain error turned into the per-field messages a
re-rendered form shows, the handles an owner ticked, checked against their sight, and the page
of a form that offers the owner's handles to tick."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.dependencies import Owner
from app.admin.layout import admin_page
from app.errors import AppError, FieldError, ValidationFailed
from app.handles import service as handles
from app.handles.models import Handle
from app.handles.visibility import Sight, find_visible_handle

__all__ = [
    "errors_of",
    "handles_form_page",
    "handles_named",
    "restriction_named",
    "validation_errors",
]

HANDLES_FIELD = "handles"


def errors_of(exc: AppError, fallback_field: str) -> dict[str, str]:
    """`{field: message}` of a domain error; one without named fields is put on
    `fallback_field`, so the form still marks an input and says what went wrong."""
    return {error.field: error.message for error in exc.errors} or {fallback_field: exc.detail}


def validation_errors(exc: ValidationError, messages: Mapping[str, str]) -> dict[str, str]:
    """`{field: message}` of a pydantic error: the API's own rules, in the form's words
    (`messages` per field; pydantic's text for a field without one)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(field, messages.get(field, error["msg"]))
    return errors


async def handles_named(session: AsyncSession, names: Iterable[str], sight: Sight) -> list[Handle]:
    """The ticked handles, each within `sight`; one out of sight is the `HandleNotFound` of a
    missing one, naming the `handles` field."""
    found: dict[int, Handle] = {}
    for name in names:
        handle = await find_visible_handle(session, name, sight, field=HANDLES_FIELD)
        found[handle.id] = handle
    return sorted(found.values(), key=lambda handle: handle.name)


async def restriction_named(
    session: AsyncSession, names: Iterable[str], sight: Sight
) -> frozenset[int] | None:
    """The handle restriction of something an owner creates (a webhook endpoint): the ticked
    handles, all within `sight`; none ticked means every handle, which only a caller who sees
    every handle may choose."""
    chosen = await handles_named(session, names, sight)
    if not chosen and sight is not None:
        message = "Choose the handles this is for; you can only choose your own."
        raise ValidationFailed(message, errors=[FieldError(HANDLES_FIELD, message)])
    return frozenset(handle.id for handle in chosen) if chosen else None


async def handles_form_page(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    template: str,
    /,
    *,
    active: str,
    values: Mapping[str, object],
    errors: Mapping[str, str] | None,
    **context: Any,
) -> HTMLResponse:
    """The form of something restricted to handles (an API key, a webhook endpoint, a
    connection): the handles the owner may tick, what was sent, and with `errors` a 422 that
    marks the fields to fix, so every such form answers a mistake the same way."""
    return admin_page(
        request,
        owner,
        template,
        active=active,
        status_code=422 if errors else 200,
        handles=await handles.list_handles(session, sight=owner.sight),
        values=values,
        errors=errors or {},
        **context,
    )
