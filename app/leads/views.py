"""HTML views of the opt-in flow after the form post: the thank-you step, confirm, gift,
unsubscribe. (The form post itself is `app.leads.middleware`, outside FastAPI's routing.)

The routes parse and answer; the rules live in `app.leads.service` and `app.leads.forms`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.responses import Response as FastAPIResponse

from app.db import SessionDep, WriteSessionDep
from app.leads import service as leads
from app.leads.exceptions import LinkExpired
from app.leads.tokens import LeadLinks
from app.links.sources import in_app_browser
from app.pages import rendering
from app.pages import service as pages
from app.pages.exceptions import PageNotFound
from app.pages.file_responses import uploaded_file_response
from app.pages.models import FileKind, GiftKind, PageStatus

__all__ = ["router"]

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
router = APIRouter(include_in_schema=False)


async def _links(request: Request) -> LeadLinks:
    links: LeadLinks = request.app.state.lead_links
    return links


LeadLinksDep = Annotated[LeadLinks, Depends(_links)]


@router.get("/p/{slug}/thanks", response_class=HTMLResponse)
async def thanks(
    slug: str, request: Request, session: SessionDep, links: LeadLinksDep, k: str = ""
) -> HTMLResponse:
    page = await pages.get_published_page(session, slug)
    gift = None
    lead_id = links.tokens.read_thanks(k) if k else None
    if lead_id is not None and not page.double_opt_in:
        lead, lead_page = await leads.get_lead_and_page(session, lead_id)
        if lead_page.id == page.id:
            gift = leads.gift_view(page, lead.id, links)
    user_agent = request.headers.get("user-agent", "")
    return HTMLResponse(
        rendering.render_thanks(
            page,
            double_opt_in=page.double_opt_in,
            gift=gift,
            in_app_browser=in_app_browser(user_agent),
            android="Android" in user_agent,
        )
    )


@router.get("/c/{token}", response_class=HTMLResponse)
async def confirm(
    token: str, request: Request, session: WriteSessionDep, links: LeadLinksDep
) -> HTMLResponse:
    link = links.tokens.read_confirm_link(token)
    if link is None:
        raise LinkExpired
    lead_id, issued_at = link
    lead, page, outcome = await leads.confirm_lead(
        session, lead_id, links, link_issued_at=issued_at
    )
    if outcome is leads.Confirmation.UNSUBSCRIBED:
        return HTMLResponse(rendering.render_still_unsubscribed(page))
    user_agent = request.headers.get("user-agent", "")
    html = rendering.render_confirmed(
        page,
        gift=leads.gift_view(page, lead.id, links),
        in_app_browser=in_app_browser(user_agent),
        android="Android" in user_agent,
        already=outcome is leads.Confirmation.ALREADY,
    )
    return HTMLResponse(html)


@router.get("/g/{token}")
async def gift(
    token: str, request: Request, session: SessionDep, links: LeadLinksDep
) -> FastAPIResponse:
    lead_id = links.tokens.read_gift(token)
    if lead_id is None:
        raise LinkExpired
    lead, page = await leads.get_lead_and_page(session, lead_id)
    if page.status == PageStatus.ARCHIVED.value and page.gift_kind == GiftKind.FILE.value:
        raise PageNotFound
    if page.gift_kind == GiftKind.FILE.value:
        return await uploaded_file_response(
            request,
            session,
            page.gift_value,
            FileKind.GIFT,
            cache_control="private, no-store",
            download_name=page.gift_file_name or "gift",
        )
    return HTMLResponse(rendering.render_gift(page, gift=leads.gift_view(page, lead.id, links)))


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_form(token: str, links: LeadLinksDep) -> HTMLResponse:
    if links.tokens.read_unsubscribe(token) is None:
        raise LinkExpired
    return HTMLResponse(rendering.render_unsubscribe(action_url=f"/u/{token}", done=False))


@router.post("/u/{token}", max_body_size=1024)
async def unsubscribe(
    token: str, request: Request, session: SessionDep, links: LeadLinksDep
) -> FastAPIResponse:
    """The button of the page above, and RFC 8058 one-click from mail clients."""
    lead_id = links.tokens.read_unsubscribe(token)
    if lead_id is None:
        raise LinkExpired
    await leads.unsubscribe_lead(session, lead_id)
    body = (await request.body()).decode("utf-8", "replace").strip()
    if body == ONE_CLICK_BODY:
        return PlainTextResponse("Unsubscribed.")
    return HTMLResponse(rendering.render_unsubscribe(action_url=f"/u/{token}", done=True))
