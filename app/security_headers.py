"""Security headers on every response: CSP, nosniff, Referrer-Policy, framing.

The one link answers in front of this middleware and adds `PAGE_HEADERS` itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PAGE_HEADERS", "SecurityHeadersMiddleware"]

# Pages need no JavaScript and load nothing from elsewhere; inline styles keep them one request.
# /docs (Swagger UI) loads its assets from a CDN, so it gets its own, looser policy.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' https: data:; "
    "frame-ancestors 'none'"
)
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
PAGE_HEADERS = [*COMMON_HEADERS, (b"content-security-policy", PAGE_CSP.encode())]
DOCS_HEADERS = [*COMMON_HEADERS, (b"content-security-policy", DOCS_CSP.encode())]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = DOCS_HEADERS if scope["path"] in {"/docs", "/redoc"} else PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
