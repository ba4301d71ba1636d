"""`/admin/account`: the signed-in person's own account, whatever their role: their access at a
glance and a new password.

A new password raises the account's session version (`users.change_password`), which ends
every session of the account on every device; this browser then gets a fresh cookie, so the
person who changed it stays signed in here. Signing out already ends every session (sessions
are stateless), so there is no separate "sign out everywhere" button.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from app.admin.dependencies import Owner, OwnerDep, SessionCodecDep, SettingsDep
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.admin.sessions import start_session
from app.db import SessionDep
from app.rate_limits import RateLimiter
from app.users import service as users
from app.users.exceptions import WeakPassword

__all__ = ["router"]

router = owner_router("/account")

WRONG_CURRENT = "That is not your current password, so nothing was changed."
MISMATCH = "The two new passwords differ. Type the same password twice."
CHANGED = "Password changed. Every other session of your account has ended; this one goes on."


async def _page(
    request: Request,
    session: SessionDep,
    owner: Owner,
    *,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    names = (await users.handle_names_by_user(session, [owner.user.id])).get(owner.user.id, [])
    return admin_page(
        request,
        owner,
        "admin/account.html",
        active="account",
        status_code=422 if errors else 200,
        handle_names=names,
        min_length=users.MIN_PASSWORD_LENGTH,
        errors=errors or {},
    )


@router.get("")
async def account(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    return await _page(request, session, owner)


@router.post("/password")
async def change_password(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    codec: SessionCodecDep,
    settings: SettingsDep,
    current: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
    confirm: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
) -> Response:
    # Guessing the current password through a stolen session is limited like signing in.
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(
        limiter.parse(settings.login_rate_per_email), "password-change", str(owner.user.id)
    )
    if not await users.verify_password(owner.user, current):
        return await _page(request, session, owner, errors={"current": WRONG_CURRENT})
    if password != confirm:
        return await _page(request, session, owner, errors={"confirm": MISMATCH})
    try:
        await users.change_password(session, owner.user, password)
    except WeakPassword as exc:
        return await _page(request, session, owner, errors={"password": exc.detail})
    response = redirect_with_flash(request, "/admin/account", CHANGED)
    start_session(response, codec, owner.user.id, owner.user.session_version)
    return response
