"""What every signed-in admin page shares: the navigation, the owner router, the page response
and the one-time notice ("flash") shown after a form was sent.

A section module makes its routes with `owner_router("/pages")`: the router's own dependencies
require a session and check CSRF on every unsafe request, so a new route is protected by being
registered there. It answers with `admin_page(request, owner, "admin/pages/list.html",
active="pages", ...)`, and after a successful POST with `redirect_with_flash(url, message)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.admin.dependencies import Owner, require_csrf
from app.admin.sessions import COOKIE_PATH, CSRF_FIELD, SessionCodec
from app.templating import render

__all__ = ["SECTIONS", "Section", "admin_page", "owner_router", "redirect_with_flash"]

FLASH_COOKIE = "leadlink_flash"
MAX_FLASH_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    label: str
    path: str
    admin_only: bool = False


# The navigation, in order; addresses are stable (bookmarks, docs and tests use them).
SECTIONS = (
    Section("dashboard", "Dashboard", "/admin"),
    Section("pages", "Pages", "/admin/pages"),
    Section("handles", "Handles", "/admin/handles"),
    Section("leads", "Leads", "/admin/leads"),
    Section("likes", "Likes", "/admin/likes"),
    Section("report", "Report", "/admin/report"),
    Section("emails", "Emails", "/admin/emails"),
    Section("keys", "API keys", "/admin/keys"),
    Section("webhooks", "Webhooks", "/admin/webhooks"),
    Section("connections", "Connections", "/admin/connections"),
    Section("accounts", "Accounts", "/admin/accounts", admin_only=True),
)


def owner_router(prefix: str = "") -> APIRouter:
    """A router under `/admin{prefix}` whose every route needs a signed-in owner and whose
    every unsafe request needs the session's CSRF token."""
    return APIRouter(prefix=f"/admin{prefix}", dependencies=[Depends(require_csrf)])


def admin_page(
    request: Request,
    owner: Owner,
    template: str,
    /,
    *,
    active: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A signed-in page: the template with the navigation, the owner, the CSRF token and the
    pending notice, never cached (it shows personal data)."""
    flash = request.cookies.get(FLASH_COOKIE)
    html = render(
        template,
        owner=owner,
        csrf_field=CSRF_FIELD,
        sections=SECTIONS,
        active=active,
        flash=unquote(flash)[:MAX_FLASH_LENGTH] if flash else None,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    if flash:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


def redirect_with_flash(request: Request, url: str, message: str) -> RedirectResponse:
    """303 to `url` (a path of this site), which then shows `message` once."""
    if not url.startswith("/admin"):
        raise ValueError(f"not an admin path: {url!r}")
    codec: SessionCodec = request.app.state.admin_sessions
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        quote(message[:MAX_FLASH_LENGTH]),
        max_age=60,
        path=COOKIE_PATH,
        secure=codec.cookie.secure,
        httponly=True,
        samesite="lax",
    )
    return response
