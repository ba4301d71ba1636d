"""What every connector shares when it calls a provider's API: where to call (the public
address, or `LEADLINK_PROVIDER_API_URLS`), and what an answer means for the connection.

An answer is sorted into one of four troubles, so the platforms' poller and the email tools'
outbox handler treat every provider alike:

- `TokenRejected` (401, or a 403 the provider documents as an invalid or revoked token): the
  owner must paste a new one; the connection waits as `needs_reconnect` and is not retried.
- `RateLimited` (429, or the provider's documented rate-limit answer): try again after
  `retry_after` seconds (the provider's `Retry-After`, else the caller's back-off).
- `ProviderUnavailable` (5xx, a timeout, a refused connection): try again with back-off.
- `UnexpectedAnswer` (a body that is not the documented JSON, a 4xx that is none of the above):
  shown on the connection's page; retried with back-off, since a provider's fix needs no owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from app.config import Settings

__all__ = [
    "MAX_ANSWER_BYTES",
    "CallTrouble",
    "ProviderUnavailable",
    "RateLimited",
    "TokenRejected",
    "UnexpectedAnswer",
    "api_url",
    "json_of",
    "retry_after_seconds",
]

MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


class CallTrouble(Exception):
    """A call to a provider that did not give what was asked; `str()` is the owner's message."""


class TokenRejected(CallTrouble):
    pass


class RateLimited(CallTrouble):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(CallTrouble):
    pass


class UnexpectedAnswer(CallTrouble):
    pass


def api_url(settings: Settings, provider: str, public: str) -> str:
    """The base address of a provider's API: `public` unless configured otherwise."""
    return settings.provider_api_urls.get(provider, public).rstrip("/")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds (delta form; an HTTP date is read as unknown), capped at a day."""
    raw = headers.get("retry-after", "").strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    return min(float(raw), MAX_RETRY_AFTER_SECONDS)


def json_of(response: httpx.Response, provider: str) -> Any:
    """The JSON body of a successful answer, or the trouble the answer means.

    Providers that report errors in a 200 body (Graph API's `error` object) check that
    themselves after this."""
    status = response.status_code
    if status == 401:
        raise TokenRejected(f"{provider} refused the token (401): connect it again.")
    if status == 429:
        raise RateLimited(
            f"{provider} asked to slow down (429).",
            retry_after=retry_after_seconds(response.headers),
        )
    if status >= 500:
        raise ProviderUnavailable(f"{provider} answered {status}; trying again later.")
    if status >= 400:
        raise UnexpectedAnswer(f"{provider} answered {status}: {_excerpt(response)}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise UnexpectedAnswer(f"{provider}'s answer is larger than expected.")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise UnexpectedAnswer(f"{provider}'s answer is not JSON.") from exc


def _excerpt(response: httpx.Response) -> str:
    text = response.content[:300].decode("utf-8", "replace")
    return " ".join(text.split()) or "(no body)"
