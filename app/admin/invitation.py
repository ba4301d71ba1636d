"""`/admin/invite/{token}`: the one page besides sign-in that a stranger may open. The invited
person sets their password there and is signed in; the link then stops working.

Its form has the sign-in form's CSRF protection (a token bound to the pre-sign-in cookie), so
another site cannot make a browser accept an invitation it chose (login CSRF).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.admin.dependencies import SessionCodecDep, SettingsDep, check_csrf_token
from app.admin.sessions import CSRF_FIELD, LOGIN_COOKIE, SessionCodec, set_cookie, start_session
from app.config import Settings
from app.db import SessionDep
from app.templating import render
from app.users import invitations
from app.users import service as users
from app.users.exceptions import WeakPassword

__all__ = ["HOME", "invitation_signer", "router"]

router = APIRouter(prefix="/admin/invite")
HOME = "/admin"
MISMATCH = "The two passwords differ. Type the same password twice."


def invitation_signer(settings: Settings) -> invitations.InvitationSigner:
    return invitations.InvitationSigner(settings.secret_key.get_secret_value())


def _page(
    codec: SessionCodec, nonce: str, email: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    html = render(
        "admin/invite.html",
        csrf_field=CSRF_FIELD,
        csrf_token=codec.csrf_token(nonce),
        email=email,
        error=error,
        min_length=users.MIN_PASSWORD_LENGTH,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/{token}")
async def invitation_form(
    token: str,
    request: Request,
    session: SessionDep,
    codec: SessionCodecDep,
    settings: SettingsDep,
) -> Response:
    user = await invitations.find_invited(session, invitation_signer(settings), token)
    nonce = request.cookies.get(LOGIN_COOKIE) or codec.new_login_nonce()
    response = _page(codec, nonce, user.email)
    set_cookie(response, codec, LOGIN_COOKIE, nonce, max_age=None)
    return response


@router.post("/{token}")
async def accept_invitation(
    *,
    token: str,
    request: Request,
    session: SessionDep,
    codec: SessionCodecDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
    confirm: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    await check_csrf_token(request, codec, nonce)
    signer = invitation_signer(settings)
    user = await invitations.find_invited(session, signer, token)
    if password != confirm:
        return _page(codec, nonce, user.email, error=MISMATCH, status=422)
    try:
        user = await invitations.accept_invitation(session, signer, token, password)
    except WeakPassword as exc:
        return _page(codec, nonce, user.email, error=exc.detail, status=422)
    response = RedirectResponse(HOME, status_code=303)
    start_session(response, codec, user.id, user.session_version)
    return response
