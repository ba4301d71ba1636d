"""What a platform connector reads from its API, before leadlink turns it into the report's
daily likes and followers (`social_metrics`).

Platforms give one of two shapes:

- `Totals`: running totals read now (YouTube's and TikTok's statistics). Likes are kept per
  item (video id → like count) so that a deleted video lowers no day's likes: the day's likes
  are the growth of the items present in both readings plus the likes of new items.
- `DailyValues`: numbers per day as the platform's insights report them (Instagram, Facebook
  Pages): stored as they are; re-reading a day replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import httpx

__all__ = ["DailyValues", "DayNumbers", "PlatformConnector", "Reading", "Totals"]


@dataclass(frozen=True, slots=True)
class Totals:
    likes_by_item: Mapping[str, int]
    followers: int | None


@dataclass(frozen=True, slots=True)
class DayNumbers:
    """One day's numbers; None: the platform did not say (unknown, never 0)."""

    likes: int | None = None
    followers: int | None = None
    impressions: int | None = None
    comments: int | None = None
    shares: int | None = None


@dataclass(frozen=True, slots=True)
class DailyValues:
    days: Mapping[date, DayNumbers] = field(default_factory=dict)


Reading = Totals | DailyValues


class PlatformConnector(Protocol):
    """One platform's API client. `base_url` is the API's address (public, or configured);
    `credentials` the connection's decrypted secrets; `options` its non-secret settings (a
    channel id, a page id); `today` the day being read, in the report's time zone.

    Raises the troubles of `app.connections.calls`; returns what it read. A connector may
    return new credentials to store (a refreshed access token) in `refreshed`."""

    async def read(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Mapping[str, str],
        options: Mapping[str, Any],
        today: date,
    ) -> tuple[Reading, Mapping[str, str] | None]: ...
