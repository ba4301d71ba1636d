"""Answering one visit of `/@handle`, `/@handle/{source}` or `/p/{slug}`: resolve the handle's
routing, detect the source, queue the visit, and produce the page or the redirect.

This is the hottest path of the service, so it runs without FastAPI's routing or dependency
injection (see `app.links.middleware`) and without touching the database in the common case:
handles, pages, rendered HTML and the day's salt are cached, and so are the traits (source, bot,
device) of each distinct combination of query, User-Agent and Referer; the visit goes to the
write-behind buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from app.client_ip import TrustedProxies
from app.config import Settings
from app.db import Database
from app.errors import is_database_outage
from app.links import bots
from app.links.attribution import ATTRIBUTION_PURPOSE, sign_attribution
from app.links.resolver import LinkResolver
from app.links.routing import RouteView, choose_route
from app.links.sources import Attribution, canonical_source, detect_source, device_class
from app.links.visit_refs import new_visit_ref
from app.links.visit_writer import VisitWriter
from app.links.visits import VisitRecord, visitor_salt
from app.pages.models import Page
from app.pages.rendering import LandingRenderer
from app.signing import Signer
from app.templating import render

__all__ = ["LinkRequest", "LinkResponse", "OneLink"]

MAX_QUERY_BYTES = 4096
MAX_QUERY_FIELDS = 50
# Visitor traits are cached per distinct (path source, query, User-Agent, Referer): in-app
# browsers of the same app versions and the same bio links repeat all day. Longer signals than
# this are worked out every time, so hostile megabyte headers cannot fill memory through it.
TRAITS_CACHE_SIZE = 4096
MAX_CACHED_SIGNALS = 2048
# While the database cannot give the day's visitor salt, it is asked again this often.
SALT_RETRY_SECONDS = 5.0

logger = logging.getLogger(__name__)


class LinkRequest(NamedTuple):
    """What the one link reads from a request; every field is untrusted. (Named tuples, not
    frozen dataclasses: those set each field through `object.__setattr__`, per request.)"""

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


class LinkResponse(NamedTuple):
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


class VisitorTraits(NamedTuple):
    """What a request's path source, query, User-Agent and Referer say about the visit. The same
    signals always give the same traits, so each distinct combination is worked out once."""

    attribution: Attribution
    bot: bool
    agent: str | None  # the link-preview fetcher's name, for bots
    device: str


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
        # A salt of this process's own while the database cannot give the day's salt, and
        # when to ask it again.
        self._stopgap: tuple[date, str, float] | None = None
        self._salt_lock = asyncio.Lock()
        self._not_found: bytes | None = None
        self._cached_traits = lru_cache(maxsize=TRAITS_CACHE_SIZE)(self._read_traits)
        self._day = date.min
        self._day_ends = float("-inf")

    def today(self) -> date:
        """Today in the report time zone; worked out again only when the day is over."""
        if time.time() >= self._day_ends:
            now = datetime.now(self.zone)
            self._day = now.date()
            midnight = datetime.combine(self._day + timedelta(days=1), dt_time(), self.zone)
            self._day_ends = midnight.timestamp()
        return self._day

    async def answer(self, request: LinkRequest) -> LinkResponse:
        page: Page | None
        route: RouteView | None = None
        if request.slug is not None:
            page = await self.resolver.page(request.slug)
            if page is None:
                return self.not_found()
            handle_id = page.handle_id
            traits, visitor_hash = await self._identify(request)
        else:
            snapshot = await self.resolver.handle(request.handle.lower() if request.handle else "")
            if snapshot is None:
                return self.not_found()
            handle_id = snapshot.handle_id
            traits, visitor_hash = await self._identify(request)
            route = choose_route(snapshot.routes, traits.attribution.source, visitor_hash)
            if route is not None and route.target_url is not None:
                await self._record(
                    request, traits, visitor_hash, handle_id=handle_id, page_id=None, route=route
                )
                return LinkResponse(302, location=route.target_url)
            page_id = route.page_id if route is not None else snapshot.default_page_id
            page = snapshot.pages.get(page_id) if page_id is not None else None
            if page is None:
                return self.not_found()

        page_id = page.id
        visit_ref = await self._record(
            request, traits, visitor_hash, handle_id=handle_id, page_id=page_id, route=route
        )
        attribution = traits.attribution
        token = sign_attribution(
            self.signer,
            handle_id=handle_id,
            page_id=page_id,
            route_id=route.id if route else None,
            variant=route.variant if route else None,
            source=attribution.source,
            medium=attribution.medium,
            campaign=attribution.campaign,
            visit_ref=visit_ref,
        )
        return LinkResponse(200, self.renderer.landing(page, token))

    async def _identify(self, request: LinkRequest) -> tuple[VisitorTraits, str]:
        """The visit's traits and its visitor hash (salted daily; no IP is ever stored)."""
        if len(request.query_string) + len(request.user_agent) + len(request.referer) > (
            MAX_CACHED_SIGNALS
        ):
            read_traits = self._read_traits  # hostile sizes must not fill the cache
        else:
            read_traits = self._cached_traits
        traits = read_traits(
            request.path_source, request.query_string, request.user_agent, request.referer
        )
        ip = self.proxies.client_ip(request.peer, request.forwarded_for)
        day = self.today()
        salt = self._salts.get(day) or await self._salt(day)
        material = f"{salt}|{ip}|{request.user_agent[:1024]}".encode("utf-8", "replace")
        return traits, hashlib.blake2b(material, digest_size=16).hexdigest()

    def _read_traits(
        self, path_source: str | None, query_string: bytes, user_agent: str, referer: str
    ) -> VisitorTraits:
        query = _first_values(query_string) if query_string else {}
        if referer and self._is_own_referer(referer):
            referer = ""  # moving between our own pages says nothing about the platform
        attribution = detect_source(
            canonical_source(path_source) if path_source else None, query, user_agent, referer
        )
        bot = bots.is_bot(user_agent)
        agent = bots.preview_fetcher(user_agent) if bot else None
        return VisitorTraits(attribution, bot, agent, device_class(user_agent))

    def _is_own_referer(self, referer: str) -> bool:
        try:
            return (urlsplit(referer[:2048]).hostname or "") == self.own_host
        except ValueError:
            return False

    async def _record(
        self,
        request: LinkRequest,
        traits: VisitorTraits,
        visitor_hash: str,
        *,
        handle_id: int,
        page_id: int | None,
        route: RouteView | None,
    ) -> str | None:
        """Queue the visit (or preview) and return its ref; HEAD and prefetches are not counted
        at all, and a preview has no ref (nobody opts in from a link preview)."""
        if request.method == "HEAD" or request.prefetch:
            return None
        attribution = traits.attribution
        visit = VisitRecord(
            ref=new_visit_ref(),
            created_at=datetime.now(UTC),
            day=self.today(),
            kind="preview" if traits.bot else "visit",
            handle_id=handle_id,
            page_id=page_id,
            route_id=route.id if route else None,
            variant=route.variant if route else None,
            source=attribution.source,
            medium=attribution.medium,
            campaign=attribution.campaign,
            content=attribution.content,
            rule=attribution.rule,
            raw_source=attribution.raw_source,
            referrer_host=attribution.referrer_host,
            in_app_browser=attribution.in_app_browser,
            agent=traits.agent,
            device_class=traits.device,
            visitor_hash=visitor_hash,
        )
        if not self.writer.offer(visit):
            await self.writer.record(visit)  # the buffer is full: written before the answer
        return None if traits.bot else visit.ref

    async def _salt(self, day: date) -> str:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        async with self._salt_lock:
            salt = self._salts.get(day)
            if salt is not None:
                return salt
            stopgap = self._stopgap
            if stopgap is not None and stopgap[0] == day and time.monotonic() < stopgap[2]:
                return stopgap[1]
            try:
                async with self.database.session() as session:
                    salt = await visitor_salt(session, day)
                    await session.commit()
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                return self._salt_stopgap(day)
            self._salts = {day: salt}  # yesterday's salt is forgotten here too
            self._stopgap = None
        return salt

    def _salt_stopgap(self, day: date) -> str:
        """The day's first visit came while the database could not give (or store) the day's
        salt: visitors are hashed with a salt of this process's own for now, so that the one
        link keeps answering, and the database is asked again every few seconds. Unique visitors
        may be counted twice that day (two salts); no visit is lost (docs/reliability.md)."""
        if self._stopgap is None or self._stopgap[0] != day:
            self._stopgap = (day, secrets.token_hex(32), 0.0)
            logger.warning("the day's visitor salt is out of reach; using this process's own")
        _, salt, _ = self._stopgap
        self._stopgap = (day, salt, time.monotonic() + SALT_RETRY_SECONDS)
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
