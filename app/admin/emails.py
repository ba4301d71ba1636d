"""The emails page, `/admin/emails`: the outbox's recent emails with their status, and one email
readable as it was rendered, so that without an SMTP server (the embedded default) a newcomer
opens the confirmation link here instead of in the server log.

An owner limited to handles sees the emails of the leads on those handles only; an email
without a lead (a test ping, an invitation) is the admin's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router
from app.db import SessionDep
from app.delivery import queries as outbox
from app.delivery.exceptions import MessageNotFound
from app.delivery.models import OutboxMessage
from app.leads import queries as leads
from app.pagination import CursorCodecDep, InvalidCursor

__all__ = ["linkify", "router"]

router = owner_router("/emails")

PAGE_SIZE = 50
# An http(s) URL up to the first space or character that cannot end one in running text.
_URL = re.compile(r"https?://[^\s<>\"'`]+")
_TRAILING = ".,;:!?)]}>'\""
# The HTML part runs nothing and loads nothing, whatever it contains: the frame is sandboxed
# (sandbox="": no scripts, no forms, no top navigation, an opaque origin) and its document, served
# at …/preview with the landing pages' policy (inline styles, which an email needs and the
# admin's own policy refuses), starts with this stricter one on top.
HTML_PART_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def linkify(text: str) -> Markup:
    """Plain text as HTML: everything escaped, and each http(s) URL a link to itself.

    The text is untrusted (it holds what a visitor typed, e.g. their name); only a URL that
    starts with `http://` or `https://` becomes a link, with its trailing punctuation left out
    and its quotes escaped, so no other scheme (`javascript:`) and no attribute can slip in.
    """
    parts: list[Markup] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup('<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>').format(url))
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def html_part_document(html: str) -> str:
    """The HTML part as the document of a sandboxed frame, its own policy first."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{HTML_PART_POLICY}">'
    return f"<!doctype html>{meta}{html}"


def _lead_scope(owner: Owner) -> Select[Any] | None:
    """None for an admin (every email); else the ids of the leads on the owner's handles."""
    return None if owner.sight is None else leads.lead_ids_in_sight(frozenset(owner.sight))


def _page_url(status: str | None, cursor: str) -> str:
    query = {"status": status} if status else {}
    return "/admin/emails?" + urlencode({**query, "cursor": cursor})


@router.get("")
async def emails(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    codec: CursorCodecDep,
    status: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    note = None
    if status and status not in outbox.EMAIL_STATUSES:
        note = f"There is no status {status[:10]!r}; showing every email."
    chosen = status if status in outbox.EMAIL_STATUSES else None
    scope = _lead_scope(owner)
    try:
        page = await outbox.list_emails(
            session, lead_scope=scope, codec=codec, status=chosen, cursor=cursor, limit=PAGE_SIZE
        )
    except InvalidCursor:
        note = "That page link is no longer valid; showing the newest emails."
        page = await outbox.list_emails(
            session, lead_scope=scope, codec=codec, status=chosen, limit=PAGE_SIZE
        )
    return admin_page(
        request,
        owner,
        "admin/emails/list.html",
        active="emails",
        messages=page.items,
        next_url=_page_url(chosen, page.next_cursor) if page.next_cursor else None,
        statuses=outbox.EMAIL_STATUSES,
        status=chosen,
        paged=cursor is not None,
        note=note,
        smtp_configured=bool(settings.smtp_host),
    )


async def _email(session: AsyncSession, owner: Owner, message_id: str) -> OutboxMessage:
    """The email `message_id` if the owner may read it; else a 404, as for a missing one."""
    found = None
    if message_id.isdecimal() and len(message_id) <= 18:
        found = await outbox.find_email(session, int(message_id), lead_scope=_lead_scope(owner))
    if found is None:
        raise MessageNotFound(message_id)
    return found


@router.get("/{message_id}")
async def email(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    message_id: str,
) -> HTMLResponse:
    found = await _email(session, owner, message_id)
    payload = found.payload
    return admin_page(
        request,
        owner,
        "admin/emails/detail.html",
        active="emails",
        message=found,
        subject=str(payload.get("subject", "")),
        to=str(payload.get("to", "")),
        text=linkify(str(payload.get("text", ""))),
        has_html=bool(payload.get("html")),
        smtp_configured=bool(settings.smtp_host),
    )


@router.get("/{message_id}/preview")
async def email_html_part(*, session: SessionDep, owner: OwnerDep, message_id: str) -> HTMLResponse:
    """The HTML part alone, for the detail page's sandboxed frame: served on its own so that its
    inline styles are governed by the framed preview's policy, not refused by the admin's."""
    html = (await _email(session, owner, message_id)).payload.get("html")
    if not html:
        raise MessageNotFound(message_id)
    return HTMLResponse(html_part_document(str(html)), headers={"Cache-Control": "no-store"})
