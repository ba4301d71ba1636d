"""The admin UI's entry: sign-in and sign-out, and the one router that gathers the sections.

Every section (`app/admin/<section>.py`) builds its routes on `layout.owner_router`, which needs
a signed-in owner and, for POSTs, a valid CSRF token; only the sign-in form lives outside it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.admin import (
    account,
    accounts,
    connections,
    dashboard,
    email_tools,
    emails,
    handles,
    invitation,
    keys,
    leads,
    likes,
    pages,
    platform_connections,
    report,
    webhooks,
)
from app.admin.dependencies import OwnerDep, SessionCodecDep, SettingsDep, check_csrf_token
from app.admin.layout import owner_router
from app.admin.sessions import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SessionCodec,
    delete_cookie,
    set_cookie,
    start_session,
)
from app.client_ip import TrustedProxies
from app.config import Settings
from app.db import SessionDep
from app.rate_limits import RateLimiter
from app.templating import render
from app.users import service as users

__all__ = ["router"]

MAX_FORM_BYTES = 16 * 1024
HOME = "/admin"
LOGIN_FAILED = "That email and password do not match an account. Check both and try again."

public_router = APIRouter(prefix="/admin")
session_router = owner_router()
router = APIRouter(include_in_schema=False, max_body_size=MAX_FORM_BYTES)


def _client_ip(request: Request) -> str:
    proxies: TrustedProxies = request.app.state.one_link.proxies
    return proxies.of_request(request)


def _login_page(
    codec: SessionCodec, nonce: str, *, email: str = "", error: str | None = None, status: int
) -> HTMLResponse:
    html = render(
        "admin/login.html",
        csrf_field=CSRF_FIELD,
        csrf_token=codec.csrf_token(nonce),
        email=email,
        error=error,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@public_router.get("/login")
async def login_form(request: Request, session: SessionDep, codec: SessionCodecDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    claim = codec.read(token) if token else None
    if claim is not None:
        user = await users.get_user(session, claim.user_id)
        if user is not None and user.session_version == claim.session_version:
            return RedirectResponse(HOME, status_code=303)
    nonce = request.cookies.get(LOGIN_COOKIE) or codec.new_login_nonce()
    response = _login_page(codec, nonce, status=200)
    set_cookie(response, codec, LOGIN_COOKIE, nonce, max_age=None)
    return response


async def _count_sign_in_attempt(request: Request, settings: Settings, email: str) -> None:
    """Count an attempt before any hashing; 429 once a limit is reached.

    The address is limited per client (address and IP), so a guesser locks out only itself and
    the owner still signs in from elsewhere; a much higher ceiling per address across all clients
    brakes guessing spread over many IPs, and the per-IP limit caps one client over all addresses.
    """
    limiter: RateLimiter = request.app.state.rate_limiter
    client_ip = _client_ip(request)
    address = email.strip().lower()
    await limiter.hit(limiter.parse(settings.login_rate_per_ip), "login-ip", client_ip)
    await limiter.hit(
        limiter.parse(settings.login_rate_per_email), "login-email-ip", address, client_ip
    )
    await limiter.hit(
        limiter.parse(settings.login_rate_per_email_all_clients), "login-email", address
    )


@public_router.post("/login")
async def login(
    *,
    request: Request,
    session: SessionDep,
    codec: SessionCodecDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)] = "",
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    await check_csrf_token(request, codec, nonce)
    await _count_sign_in_attempt(request, settings, email)
    user = await users.authenticate(session, email, password)
    if user is None:
        return _login_page(codec, nonce, email=email, error=LOGIN_FAILED, status=401)
    response = RedirectResponse(HOME, status_code=303)
    start_session(response, codec, user.id, user.session_version)
    return response


@session_router.post("/logout")
async def logout(session: SessionDep, owner: OwnerDep, codec: SessionCodecDep) -> Response:
    await users.end_sessions(session, owner.user)
    response = RedirectResponse("/admin/login", status_code=303)
    delete_cookie(response, codec, SESSION_COOKIE)
    return response


router.include_router(public_router)
router.include_router(session_router)
# The sections of the navigation, each a module with its own owner router.
for section in (
    dashboard,
    pages,
    handles,
    leads,
    likes,
    report,
    emails,
    keys,
    webhooks,
    connections,
    platform_connections,
    email_tools,
    accounts,
    account,
    invitation,
):
    router.include_router(section.router)
