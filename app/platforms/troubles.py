"""What the platform connectors add to the shared troubles of `app.connections.calls`.

- `DailyQuotaExceeded`: a platform whose quota is per day (YouTube's 10,000 units, reset at
  midnight Pacific time): retrying before the reset only spends the next day's quota, so the
  poller waits for the reset instead of backing off.
- A connector that refreshed its access token (TikTok) before a later call failed still has
  new credentials to store, or the connection would lose a rotated refresh token:
  `carry_refreshed` attaches them to the trouble and the poller stores them anyway.
- `calling`: a network failure (timeout, refused connection) is `ProviderUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from app.connections.calls import CallTrouble, ProviderUnavailable, RateLimited

__all__ = ["DailyQuotaExceeded", "calling", "carry_refreshed", "refreshed_of"]

_REFRESHED = "leadlink_refreshed_credentials"


class DailyQuotaExceeded(RateLimited):
    """The day's quota is spent; it resets at midnight in `reset_zone`."""

    def __init__(self, message: str, *, reset_zone: str) -> None:
        super().__init__(message, retry_after=None)
        self.reset_zone = reset_zone


def carry_refreshed(trouble: CallTrouble, refreshed: Mapping[str, str]) -> CallTrouble:
    setattr(trouble, _REFRESHED, dict(refreshed))
    return trouble


def refreshed_of(trouble: BaseException) -> Mapping[str, str] | None:
    found = getattr(trouble, _REFRESHED, None)
    return found if isinstance(found, dict) else None


@asynccontextmanager
async def calling(provider: str) -> AsyncIterator[None]:
    """Turn a network failure into `ProviderUnavailable` (with no URL: it may carry a key)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        message = f"{provider} did not answer in time; trying again later."
        raise ProviderUnavailable(message) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{provider} could not be reached; trying again later.") from exc
