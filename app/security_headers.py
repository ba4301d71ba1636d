"""Security headers on every response: CSP, nosniff, Referrer-Policy, framing.

The one link answers in front of this middleware and adds `PAGE_HEADERS` itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PAGE_HEADERS", "SecurityHeadersMiddleware", "headers_for"]

# Landing pages need no JavaScript and load nothing from elsewhere; inline styles keep them one
# request (a style cannot run code, so no script is allowed anywhere).
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The admin UI and /docs: scripts and styles only from this server's /static files, never
# inline; the admin may frame its own page previews.
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Swagger UI sets style attributes and draws icons from data: URLs; its scripts are static files.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# A landing page rendered for the editor's preview frame: framed by the admin, and only by it.
PREVIEW_CSP = PAGE_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
PAGE_HEADERS = [
    *COMMON_HEADERS,
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", PAGE_CSP.encode()),
]
ADMIN_HEADERS = [
    *COMMON_HEADERS,
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", ADMIN_CSP.encode()),
]
PREVIEW_HEADERS = [
    *COMMON_HEADERS,
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", PREVIEW_CSP.encode()),
]
DOCS_HEADERS = [
    *COMMON_HEADERS,
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", DOCS_CSP.encode()),
]
PREVIEW_SUFFIX = "/preview"


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to `path`."""
    if path.startswith("/admin/") and path.endswith(PREVIEW_SUFFIX):
        return PREVIEW_HEADERS
    if path == "/docs":
        return DOCS_HEADERS
    if path.startswith(("/admin", "/static/")):
        return ADMIN_HEADERS
    return PAGE_HEADERS


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
