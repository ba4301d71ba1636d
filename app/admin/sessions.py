"""Signed session cookies and the CSRF tokens bound to them.

The session cookie holds the user id, the account's session version and the issue time, signed
with the `session` purpose key; nothing is stored on the server. Raising the account's session
version (sign-out, new password) voids every cookie issued before.

A CSRF token is an HMAC of the cookie it belongs to: the session cookie once signed in, or a
random pre-sign-in cookie on the login form, so a token lifted from one browser is worthless in
another and a cross-site form cannot know it.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.responses import Response

from app.signing import BadSignature, Signer

__all__ = [
    "COOKIE_PATH",
    "CSRF_FIELD",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_SECONDS",
    "CookieOptions",
    "SessionClaim",
    "SessionCodec",
    "delete_cookie",
    "origin_of",
    "set_cookie",
    "start_session",
]

SESSION_COOKIE = "leadlink_session"
LOGIN_COOKIE = "leadlink_login"
COOKIE_PATH = "/admin"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600
CSRF_BYTES = 16


@dataclass(frozen=True, slots=True)
class SessionClaim:
    user_id: int
    session_version: int
    issued_at: int


@dataclass(frozen=True, slots=True)
class CookieOptions:
    path: str
    httponly: bool
    samesite: Literal["lax"]
    secure: bool


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, as browsers send it in `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class SessionCodec:
    """Issues and reads session cookies and their CSRF tokens for one secret key."""

    def __init__(self, secret_key: str, base_url: str) -> None:
        self._signer = Signer(secret_key, "session")
        self._csrf_key = hmac.digest(secret_key.encode("utf-8"), b"leadlink-signing:csrf", "sha256")
        self.origin = origin_of(base_url)
        self.cookie = CookieOptions(
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self.origin.startswith("https://"),
        )

    def issue(self, user_id: int, session_version: int, *, now: float | None = None) -> str:
        return self._signer.sign_fields((str(user_id), str(session_version)), now=now)

    def read(self, token: str, *, now: float | None = None) -> SessionClaim | None:
        """The claim of a genuine, unexpired cookie; `None` for anything else."""
        try:
            values, issued_at = self._signer.unsign_fields(
                token, max_age_seconds=SESSION_MAX_AGE_SECONDS, now=now
            )
            user_id, version = (int(value) for value in values)
        except (BadSignature, ValueError):
            return None
        return SessionClaim(user_id=user_id, session_version=version, issued_at=issued_at)

    @staticmethod
    def new_login_nonce() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, binding: str) -> str:
        """The token for forms of the browser holding the cookie value `binding`."""
        mac = hmac.digest(self._csrf_key, binding.encode("utf-8"), "sha256")[:CSRF_BYTES]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def csrf_matches(self, binding: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(binding).encode(), given.encode())


def set_cookie(
    response: Response, codec: SessionCodec, name: str, value: str, max_age: int | None
) -> None:
    """Set one of the admin's cookies (session, pre-sign-in) with the codec's attributes."""
    options = codec.cookie
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=options.path,
        secure=options.secure,
        httponly=options.httponly,
        samesite=options.samesite,
    )


def delete_cookie(response: Response, codec: SessionCodec, name: str) -> None:
    options = codec.cookie
    response.delete_cookie(
        name,
        path=options.path,
        secure=options.secure,
        httponly=options.httponly,
        samesite=options.samesite,
    )


def start_session(response: Response, codec: SessionCodec, user_id: int, version: int) -> None:
    """Sign this browser in (a fresh session cookie) and drop its pre-sign-in cookie."""
    set_cookie(
        response, codec, SESSION_COOKIE, codec.issue(user_id, version), SESSION_MAX_AGE_SECONDS
    )
    delete_cookie(response, codec, LOGIN_COOKIE)
