"""What Instagram's and Facebook's connectors share: one GET on Meta's Graph API, and what its
answer means.

The Graph API does not say everything with the status code. An expired token is usually a
`400` whose body is `{"error": {"type": "OAuthException", "code": 190, …}}`, a rate limit a
`400` or `403` with code 4, 17, 32, 613 or 80001…, and either may come in a `200` body too. So
the body's `error` object is read first, whatever the status, and sorted into the troubles of
`app.connections.calls` by its documented code; an answer without one goes through `json_of`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from app.connections.calls import (
    MAX_RETRY_AFTER_SECONDS,
    ProviderUnavailable,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
    json_of,
    retry_after_seconds,
)

__all__ = [
    "GRAPH_API_VERSION",
    "RATE_LIMIT_CODES",
    "TOKEN_CODES",
    "count_of",
    "graph_get",
    "insight_day",
    "numeric_id",
    "stored_token",
    "unix_midnight",
]

# Pinned so a new Graph API version changes nothing until leadlink is moved to it on purpose
# (Meta keeps a version for about two years).
GRAPH_API_VERSION = "v25.0"

# Meta's "Handling Errors" list: 190 access token expired or invalid, 102 API session,
# 10 and 200-299 a permission the token lacks. All need the owner to connect again.
TOKEN_CODES = frozenset({102, 190, 10, *range(200, 300)})
# 4 application, 17 user, 32 Page, 613 custom, 341 application limit; 80001-80014 the
# business use case limits (80001 Pages, 80002 Instagram, …).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80015)})
# 1 unknown and 2 service: "a temporary issue due to downtime; wait and retry".
TRANSIENT_CODES = frozenset({1, 2})

USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")


def stored_token(credentials: Mapping[str, str], provider: str) -> str:
    """The connection's access token; none stored means the owner must connect again."""
    token = credentials.get("access_token", "").strip()
    if not token:
        raise TokenRejected(f"{provider}: no access token is stored; connect it again.")
    return token


def numeric_id(options: Mapping[str, Any], key: str, provider: str) -> str:
    """The account's id from the connection's options: Graph ids are digits, and only digits go
    into the request's path."""
    value = str(options.get(key) or "").strip()
    if not value.isascii() or not value.isdigit():
        raise UnexpectedAnswer(f"{provider}: the connection has no valid {key} (digits only).")
    return value


def unix_midnight(day: date) -> int:
    """The start of `day` in UTC as Unix seconds: the form of `since` and `until`."""
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def insight_day(end_time: object, provider: str) -> date:
    """The day a daily insight value counts: its `end_time` marks the end of the day (Meta's
    midnight, 07:00 or 08:00 UTC), so the day is the one before."""
    try:
        end = datetime.strptime(str(end_time), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise UnexpectedAnswer(f"{provider} sent an insight without a readable end_time.") from None
    return (end.astimezone(UTC) - timedelta(days=1)).date()


def count_of(value: object, provider: str) -> int:
    """A count in an answer: a whole number of 0 or more, or a breakdown of them by type (a
    Page's reactions per kind) added up."""
    if isinstance(value, dict):
        return sum(count_of(part, provider) for part in value.values())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnexpectedAnswer(f"{provider} sent {str(value)[:40]!r} where a count was expected.")
    return value


async def graph_get(
    http: httpx.AsyncClient, url: str, params: Mapping[str, str], provider: str
) -> dict[str, Any]:
    """GET `url` and return its JSON object, or raise the trouble the answer means."""
    try:
        response = await http.get(url, params=params)
    except httpx.TimeoutException:
        raise ProviderUnavailable(
            f"{provider} did not answer in time; trying again later."
        ) from None
    except httpx.TransportError:
        raise ProviderUnavailable(f"{provider} could not be reached; trying again later.") from None
    error = _error_object(response)
    if error is not None:
        raise _trouble(error, response, provider)
    body = json_of(response, provider)
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"{provider}'s answer is not a JSON object.")
    return body


def _error_object(response: httpx.Response) -> Mapping[str, Any] | None:
    if response.status_code >= 500 or len(response.content) > 64 * 1024:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _trouble(error: Mapping[str, Any], response: httpx.Response, provider: str) -> Exception:
    code = error.get("code")
    message = " ".join(str(error.get("message") or "").split())[:200]
    said = f" (code {code}: {message})" if message else f" (code {code})"
    if code in TOKEN_CODES or response.status_code == 401:
        return TokenRejected(f"{provider} refused the token{said}: connect it again.")
    if code in RATE_LIMIT_CODES or response.status_code == 429:
        return RateLimited(f"{provider} asked to slow down{said}.", retry_after=_wait(response))
    if code in TRANSIENT_CODES or error.get("is_transient") is True:
        return ProviderUnavailable(f"{provider} had a temporary problem{said}; trying again later.")
    return UnexpectedAnswer(f"{provider} answered {response.status_code}{said}.")


def _wait(response: httpx.Response) -> float | None:
    """`Retry-After` when sent; else the longest `estimated_time_to_regain_access` (minutes)
    of Meta's usage headers; else unknown (the caller's back-off)."""
    seconds = retry_after_seconds(response.headers)
    if seconds is not None:
        return seconds
    minutes = [m for name in USAGE_HEADERS for m in _regain_minutes(response.headers.get(name))]
    if not minutes or max(minutes) <= 0:
        return None
    return min(max(minutes) * 60.0, MAX_RETRY_AFTER_SECONDS)


def _regain_minutes(raw: str | None) -> list[float]:
    if not raw:
        return []
    try:
        usage = json.loads(raw)
    except ValueError:
        return []
    entries: list[Any] = []
    if isinstance(usage, dict):
        # X-App-Usage is one object; X-Business-Use-Case-Usage maps ids to lists of them.
        entries.append(usage)
        for value in usage.values():
            entries.extend(value if isinstance(value, list) else [value])
    found = []
    for entry in entries:
        minutes = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
        if isinstance(minutes, int | float) and not isinstance(minutes, bool):
            found.append(float(minutes))
    return found
