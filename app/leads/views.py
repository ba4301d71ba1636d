"""HTML views of the opt-in flow: the form post, the thank-you step, confirm, gift, unsubscribe.

The routes parse and answer; the rules live in `app.leads.service` and `app.leads.forms`.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.responses import Response as FastAPIResponse

from app import metrics
from app.db import SessionDep, WriteSessionDep
from app.leads import service as leads
from app.leads.abuse import FormTiming, judge_form_timing
from app.leads.exceptions import InvalidOptIn, LinkExpired
from app.leads.forms import MAX_FIELDS, parse_opt_in_form
from app.leads.tokens import LeadLinks
from app.links.attribution import read_attribution, sign_attribution
from app.links.one_link import OneLink
from app.links.sources import in_app_browser
from app.pages import rendering
from app.pages import service as pages
from app.pages.exceptions import PageNotFound
from app.pages.models import GiftKind, Page, PageStatus
from app.rate_limits import RateLimiter

__all__ = ["MAX_FORM_BYTES", "router"]

MAX_FORM_BYTES = 16 * 1024
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
router = APIRouter(include_in_schema=False)


def _one_link(request: Request) -> OneLink:
    one_link: OneLink = request.app.state.one_link
    return one_link


def _links(request: Request) -> LeadLinks:
    links: LeadLinks = request.app.state.lead_links
    return links


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


OneLinkDep = Annotated[OneLink, Depends(_one_link)]
LeadLinksDep = Annotated[LeadLinks, Depends(_links)]
RateLimiterDep = Annotated[RateLimiter, Depends(_limiter)]


def _client_ip(request: Request, one_link: OneLink) -> str:
    peer = request.client.host if request.client else None
    return one_link.proxies.client_ip(peer, request.headers.get("x-forwarded-for"))


def _fresh_token(one_link: OneLink, page: Page) -> str:
    return sign_attribution(
        one_link.signer,
        handle_id=page.handle_id,
        page_id=page.id,
        route_id=None,
        variant=None,
        source="direct",
        medium=None,
        campaign=None,
        visit_ref=None,
    )


async def _read_form(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidOptIn({"form": "The form must be sent as a web form."})
    body = await request.body()
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidOptIn({"form": "The form has too many or malformed fields."}) from exc


@router.post("/p/{slug}", max_body_size=MAX_FORM_BYTES)
async def submit_opt_in(
    slug: str,
    *,
    request: Request,
    session: SessionDep,
    one_link: OneLinkDep,
    links: LeadLinksDep,
    limiter: RateLimiterDep,
) -> FastAPIResponse:
    page = await pages.get_published_page(session, slug)
    settings = request.app.state.settings
    await limiter.hit(
        limiter.parse(settings.optin_rate_per_ip),
        "opt-in-ip",
        page.slug,
        _client_ip(request, one_link),
    )
    try:
        form = parse_opt_in_form(page, await _read_form(request))
    except InvalidOptIn as invalid:
        metrics.optin_submissions.labels("invalid").inc()
        token = invalid.values.get("a") or _fresh_token(one_link, page)
        if read_attribution(one_link.signer, token) is None:
            token = _fresh_token(one_link, page)
        html = one_link.renderer.form_with_errors(
            page, token, invalid.values, invalid.field_messages
        )
        return HTMLResponse(html, status_code=422)

    attribution = read_attribution(one_link.signer, form.attribution_token)
    if attribution is not None and attribution.page_id != page.id:
        attribution = None  # a token from another page says nothing about this one
    timing = judge_form_timing(attribution.rendered_at if attribution else None, time.time())
    thanks = f"/p/{page.slug}/thanks"
    if form.honeypot_filled or timing is FormTiming.TOO_FAST:
        # Bots get the ordinary answer, so they learn nothing; nothing is written.
        metrics.optin_submissions.labels("honeypot" if form.honeypot_filled else "too_fast").inc()
        return RedirectResponse(thanks, status_code=303)
    if timing is FormTiming.STALE:
        metrics.optin_submissions.labels("stale").inc()
        html = one_link.renderer.form_with_errors(
            page,
            _fresh_token(one_link, page),
            form.values,
            {},
            notice="This form had expired. Please check your details and send it again.",
        )
        return HTMLResponse(html, status_code=200)

    await limiter.hit(limiter.parse(settings.optin_rate_per_email), "opt-in-email", form.email)
    lead_id = await leads.submit_opt_in(session, page, form, attribution, links)
    metrics.optin_submissions.labels("accepted").inc()
    if not page.double_opt_in and lead_id is not None:
        thanks += f"?k={links.tokens.thanks(lead_id)}"
    # The outbox worker is woken by the commit itself (app.delivery.service).
    return RedirectResponse(thanks, status_code=303)


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
    lead_id = links.tokens.read_confirm(token)
    if lead_id is None:
        raise LinkExpired
    lead, page, already = await leads.confirm_lead(session, lead_id, links)
    user_agent = request.headers.get("user-agent", "")
    html = rendering.render_confirmed(
        page,
        gift=leads.gift_view(page, lead.id, links),
        in_app_browser=in_app_browser(user_agent),
        android="Android" in user_agent,
        already=already,
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
        path = pages.gift_file_path(request.app.state.settings, page.gift_value)
        if path is None or not await anyio.Path(path).is_file():
            raise PageNotFound
        return FileResponse(
            path,
            filename=page.gift_file_name or "gift",
            headers={"Cache-Control": "private, no-store"},
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
