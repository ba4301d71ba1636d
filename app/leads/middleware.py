"""The opt-in form post, `POST /p/{slug}`: where a visit becomes a lead.

It is answered by a pure ASGI middleware, like the one link's pages (`app.links.middleware`),
because FastAPI's routing, dependency injection and per-route wrappers cost about as much CPU as the
opt-in itself, and this is the busiest write of the service. What it raises goes through the same
error handlers as every FastAPI route (`app.errors.error_response`): a 404 page, a 413, a 429
with Retry-After, a 503 during a database outage.

The answer is a 303 to the thank-you step (or the page's own thank-you address), sent only once
the lead and its first email are committed (`app.leads.opt_in_writer`); an invalid form
re-renders with the fields named (422).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.config import Settings
from app.db import Database, utcnow
from app.errors import PayloadTooLarge, error_response
from app.leads import service as leads
from app.leads.abuse import FormTiming, judge_form_timing
from app.leads.exceptions import InvalidOptIn
from app.leads.forms import MAX_FIELDS, parse_opt_in_form
from app.leads.opt_in_writer import NewOptIn, OptInWriter
from app.leads.tokens import LeadLinks
from app.links.attribution import read_attribution, sign_attribution
from app.links.middleware import PAGE_PATH  # the page's own address, GET there and POST here
from app.links.one_link import OneLink
from app.pages.exceptions import PageNotFound
from app.pages.models import Page
from app.rate_limits import RateLimiter

__all__ = ["MAX_FORM_BYTES", "OptInMiddleware", "submit_opt_in"]

MAX_FORM_BYTES = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


class OptInMiddleware:
    """Answers `POST /p/{slug}`; passes every other request on."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = PAGE_PATH.fullmatch(scope["path"])
            if match is not None:
                request = Request(scope, receive)
                try:
                    response = await submit_opt_in(self.state, match.group(1), request)
                except Exception as exc:
                    response = await error_response(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it (or its announced length) is over `limit` bytes."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise PayloadTooLarge(f"The form is larger than {limit // 1024} KB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The form is larger than {limit // 1024} KB.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_form(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise InvalidOptIn({"form": "The form must be sent as a web form."})
    body = await _read_body(request, MAX_FORM_BYTES)
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidOptIn({"form": "The form has too many or malformed fields."}) from exc


async def _published_page(one_link: OneLink, slug: str) -> Page:
    # The page the one link serves, from the same short-lived cache: a change made here is
    # seen at once, one made by another process within the cache's few seconds.
    page = await one_link.resolver.page(slug.lower())
    if page is None:
        raise PageNotFound
    return page


async def submit_opt_in(state: State, slug: str, request: Request) -> Response:
    one_link: OneLink = state.one_link
    links: LeadLinks = state.lead_links
    limiter: RateLimiter = state.rate_limiter
    writer: OptInWriter = state.opt_in_writer
    settings: Settings = state.settings
    page = await _published_page(one_link, slug)
    await limiter.hit(
        limiter.parse(settings.optin_rate_per_ip),
        "opt-in-ip",
        page.slug,
        one_link.proxies.of_request(request),
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
    # The owner's own thank-you address, when set, replaces the thanks page (bots get it too).
    thanks = page.thank_you_url or f"/p/{page.slug}/thanks"
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
    # Committed (with its first email) before the 303; a known address gets the repeat rules.
    lead_id = await writer.write(NewOptIn(page, form, attribution, received_at=utcnow()))
    if lead_id is None:
        database: Database = state.database
        async with database.session(write=True) as session:
            lead_id = await leads.submit_opt_in(session, page, form, attribution, links)
            await session.commit()
    metrics.optin_submissions.labels("accepted").inc()
    if not page.double_opt_in and lead_id is not None and not page.thank_you_url:
        thanks += f"?k={links.tokens.thanks(lead_id)}"
    # The outbox worker is woken by the commit itself (app.delivery.service).
    return RedirectResponse(thanks, status_code=303)
