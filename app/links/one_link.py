"""Answering one visit of `/@handle`, `/@handle/{source}` or `/p/{slug}`: resolve the handle's
routing, detect the source, queue the visit, and produce the page or the redirect.

This is the hottest path of the service, so it runs without FastAPI's routing or dependency
injection (see `app.links.views`) and without touching the database in the common case: handles,
pages, rendered HTML and the day's salt are cached; the visit goes to the write-behind buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from app.client_ip import TrustedProxies
from app.config import Settings
from app.db import Database
from app.links import bots
from app.links.attribution import ATTRIBUTION_PURPOSE, sign_attribution
from app.links.resolver import LinkResolver
from app.links.routing import choose_route
from app.links.sources import Attribution, canonical_source, detect_source, device_class
from app.links.visit_writer import VisitWriter
from app.links.visits import VisitRecord, visitor_salt
from app.pages.models import Page
from app.pages.rendering import LandingRenderer
from app.signing import Signer
from app.templating import render

__all__ = ["LinkRequest", "LinkResponse", "OneLink"]

MAX_QUERY_BYTES = 4096
MAX_QUERY_FIELDS = 50


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """What the one link reads from a request; every field is untrusted."""

    method: str
    handle: str | None
    path_source: str | None
    slug: str | None
    query_string: bytes
    user_agent: str
    referer: str
    peer: str | None
    forwarded_for: str | None
    prefetch: bool


@dataclass(frozen=True, slots=True)
class LinkResponse:
    status: int
    body: bytes = b""
    location: str | None = None
    retry_after: bool = False


def _first_values(query_string: bytes) -> dict[str, str]:
    """The first value of each of the first 50 query parameters (the rest are ignored)."""
    parts = query_string[:MAX_QUERY_BYTES].decode("latin-1").split("&", MAX_QUERY_FIELDS)
    values: dict[str, str] = {}
    for name, value in parse_qsl("&".join(parts[:MAX_QUERY_FIELDS])):
        values.setdefault(name, value)
    return values


class OneLink:
    """Owns the resolver, the renderer, the visit writer and the signing key of the one link."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.report_tz)
        self.resolver = LinkResolver(database)
        self.renderer = LandingRenderer(settings.base_url)
        self.writer = VisitWriter(database, self.today)
        self.signer = Signer(settings.secret_key.get_secret_value(), ATTRIBUTION_PURPOSE)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.own_host = (urlsplit(settings.base_url).hostname or "").lower()
        self.database = database
        self._salts: dict[date, str] = {}
        self._salt_lock = asyncio.Lock()
        self._not_found: bytes | None = None

    def today(self) -> date:
        return datetime.now(self.zone).date()

    async def answer(self, request: LinkRequest) -> LinkResponse:
        page: Page | None
        if request.slug is not None:
            page = await self.resolver.page(request.slug)
            if page is None:
                return self.not_found()
            return await self._visit(
                request, handle_id=page.handle_id, page=page, route_id=None, variant=None
            )

        assert request.handle is not None
        snapshot = await self.resolver.handle(request.handle.lower())
        if snapshot is None:
            return self.not_found()
        attribution, visitor_hash = await self._identify(request)
        route = choose_route(snapshot.routes, attribution.source, visitor_hash)
        if route is not None and route.target_url is not None:
            await self._record(
                request,
                attribution=attribution,
                visitor_hash=visitor_hash,
                handle_id=snapshot.handle_id,
                page_id=None,
                route_id=route.id,
                variant=route.variant,
            )
            return LinkResponse(302, location=route.target_url)
        page_id = route.page_id if route is not None else snapshot.default_page_id
        page = snapshot.pages.get(page_id) if page_id is not None else None
        if page is None:
            return self.not_found()
        return await self._visit(
            request,
            handle_id=snapshot.handle_id,
            page=page,
            route_id=route.id if route else None,
            variant=route.variant if route else None,
            identified=(attribution, visitor_hash),
        )

    async def _visit(
        self,
        request: LinkRequest,
        *,
        handle_id: int,
        page: Page,
        route_id: int | None,
        variant: str | None,
        identified: tuple[Attribution, str] | None = None,
    ) -> LinkResponse:
        attribution, visitor_hash = identified or await self._identify(request)
        visit_ref = await self._record(
            request,
            attribution=attribution,
            visitor_hash=visitor_hash,
            handle_id=handle_id,
            page_id=page.id,
            route_id=route_id,
            variant=variant,
        )
        token = sign_attribution(
            self.signer,
            handle_id=handle_id,
            page_id=page.id,
            route_id=route_id,
            variant=variant,
            source=attribution.source,
            medium=attribution.medium,
            campaign=attribution.campaign,
            visit_ref=visit_ref,
        )
        return LinkResponse(200, self.renderer.landing(page, token))

    async def _identify(self, request: LinkRequest) -> tuple[Attribution, str]:
        query = _first_values(request.query_string) if request.query_string else {}
        referer = request.referer
        if referer and self._is_own_referer(referer):
            referer = ""  # moving between our own pages says nothing about the platform
        attribution = detect_source(
            canonical_source(request.path_source) if request.path_source else None,
            query,
            request.user_agent,
            referer,
        )
        ip = self.proxies.client_ip(request.peer, request.forwarded_for)
        salt = await self._salt(self.today())
        material = f"{salt}|{ip}|{request.user_agent[:1024]}".encode("utf-8", "replace")
        return attribution, hashlib.blake2b(material, digest_size=16).hexdigest()

    def _is_own_referer(self, referer: str) -> bool:
        try:
            return (urlsplit(referer[:2048]).hostname or "") == self.own_host
        except ValueError:
            return False

    async def _record(
        self,
        request: LinkRequest,
        *,
        attribution: Attribution,
        visitor_hash: str,
        handle_id: int,
        page_id: int | None,
        route_id: int | None,
        variant: str | None,
    ) -> str | None:
        """Queue the visit (or preview); HEAD and prefetches are not counted at all."""
        if request.method == "HEAD" or request.prefetch:
            return None
        bot = bots.is_bot(request.user_agent)
        ref = secrets.token_urlsafe(12)
        now = datetime.now(UTC)
        await self.writer.record(
            VisitRecord(
                ref=ref,
                created_at=now,
                day=now.astimezone(self.zone).date(),
                kind="preview" if bot else "visit",
                handle_id=handle_id,
                page_id=page_id,
                route_id=route_id,
                variant=variant,
                source=attribution.source,
                medium=attribution.medium,
                campaign=attribution.campaign,
                content=attribution.content,
                rule=attribution.rule,
                raw_source=attribution.raw_source,
                referrer_host=attribution.referrer_host,
                in_app_browser=attribution.in_app_browser,
                agent=bots.preview_fetcher(request.user_agent) if bot else None,
                device_class=device_class(request.user_agent),
                visitor_hash=visitor_hash,
            )
        )
        return None if bot else ref

    async def _salt(self, day: date) -> str:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        async with self._salt_lock:
            salt = self._salts.get(day)
            if salt is None:
                async with self.database.session() as session:
                    salt = await visitor_salt(session, day)
                    await session.commit()
                self._salts = {day: salt}  # yesterday's salt is forgotten here too
        return salt

    def not_found(self) -> LinkResponse:
        if self._not_found is None:
            self._not_found = render(
                "error.html",
                status_code=404,
                title="Not Found",
                detail="There is no page at this link. Check the address in the bio you came from.",
                errors=(),
            ).encode("utf-8")
        return LinkResponse(404, self._not_found)
