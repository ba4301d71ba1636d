"""The one link's HTTP face: a pure ASGI middleware that answers `GET`/`HEAD` of `/@handle`,
`/@handle/{source}` and `/p/{slug}` and passes every other request on.

It is the outermost layer of the app (`app.main.LeadlinkApp`), in front of the request log, the
security headers and FastAPI's whole stack, on purpose: this path carries every social click, so
it adds the security headers and writes the access log line itself, and the rest of the app
stays plain FastAPI.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import OUTAGE_RETRY_AFTER, is_database_outage, outage_page, outage_reason
from app.links import bots
from app.links.one_link import LinkRequest, LinkResponse, OneLink
from app.observability import log_request
from app.security_headers import PAGE_HEADERS

__all__ = ["OneLinkMiddleware"]

logger = logging.getLogger(__name__)
HANDLE_PATH = re.compile(r"/@([A-Za-z0-9._-]{1,30})(?:/([A-Za-z0-9_-]{1,32}))?/?")
PAGE_PATH = re.compile(r"/p/([A-Za-z0-9-]{1,64})/?")
THANKS_PATH = re.compile(r"/p/[A-Za-z0-9-]{1,64}/thanks")
PREFETCH_HEADERS = frozenset({b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"})
HEADER_NAMES = frozenset({b"user-agent", b"referer", b"x-forwarded-for", *PREFETCH_HEADERS})
HTML_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    # Every answer carries a per-visit token and must be counted: never cache it.
    (b"cache-control", b"no-store"),
    *PAGE_HEADERS,
]
REDIRECT_HEADERS = [(b"content-length", b"0"), (b"cache-control", b"no-store"), *PAGE_HEADERS]


class OneLinkMiddleware:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            started = time.perf_counter()
            if path.startswith("/@"):
                match = HANDLE_PATH.fullmatch(path)
                if match is not None:
                    await self._answer(
                        scope, send, started, handle=match.group(1), path_source=match.group(2)
                    )
                    return
                await self._send(scope, send, started, self._one_link.not_found())
                return
            if path.startswith("/p/"):
                match = PAGE_PATH.fullmatch(path)
                if match is not None:
                    await self._answer(scope, send, started, slug=match.group(1).lower())
                    return
                if not THANKS_PATH.fullmatch(path):
                    # Not a page address at all (the opt-in POST route would answer 405).
                    await self._send(scope, send, started, self._one_link.not_found())
                    return
        await self.app(scope, receive, send)

    @property
    def _one_link(self) -> OneLink:
        one_link: OneLink = self.state.one_link
        return one_link

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        started: float,
        *,
        handle: str | None = None,
        path_source: str | None = None,
        slug: str | None = None,
    ) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in HEADER_NAMES:
                if name == b"x-forwarded-for" and name in headers:
                    # One chain from every line (app.client_ip.joined_forwarded_for says why).
                    headers[name] += b", " + value
                else:
                    headers[name] = value
        client = scope.get("client")
        request = LinkRequest(
            method=scope["method"],
            handle=handle,
            path_source=path_source,
            slug=slug,
            query_string=scope.get("query_string", b""),
            user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
            referer=headers.get(b"referer", b"").decode("latin-1"),
            peer=client[0] if client else None,
            forwarded_for=(
                headers[b"x-forwarded-for"].decode("latin-1")
                if b"x-forwarded-for" in headers
                else None
            ),
            prefetch=bool(headers.keys() & PREFETCH_HEADERS)
            and bots.is_prefetch(
                {
                    name.decode("latin-1"): headers[name].decode("latin-1")
                    for name in headers.keys() & PREFETCH_HEADERS
                }
            ),
        )
        try:
            response = await self._one_link.answer(request)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            logger.error("database unavailable: %s", outage_reason(exc))
            response = LinkResponse(503, outage_page().encode("utf-8"), retry_after=True)
        await self._send(scope, send, started, response)

    async def _send(self, scope: Scope, send: Send, started: float, response: LinkResponse) -> None:
        if response.location is not None:
            headers = [(b"location", response.location.encode("latin-1")), *REDIRECT_HEADERS]
            body = b""
        else:
            body = response.body
            headers = [*HTML_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]
            if response.retry_after:
                headers.append((b"retry-after", OUTAGE_RETRY_AFTER.encode("ascii")))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        log_request(scope, response.status, started)
