"""YouTube Data API v3: a channel's subscribers and its videos' likes, with an API key.

Three documented calls, each 1 quota unit (of the default 10,000 a day per Google Cloud project):

1. `GET /channels?part=statistics,contentDetails&id={channel}`: `statistics.subscriberCount`
   (followers; absent when the channel hides it) and the uploads playlist,
   `contentDetails.relatedPlaylists.uploads`.
2. `GET /playlistItems?part=contentDetails&playlistId={uploads}&maxResults=50&pageToken=…`:
   the video ids, newest first, 50 a page.
3. `GET /videos?part=statistics&id={up to 50 ids}`: `statistics.likeCount` per video (absent
   when the owner hides likes: that video counts nothing).

At most `MAX_VIDEOS` videos (the newest) are read a day: 2 x 100 calls + 1 = 201 units.

Errors come as `{"error": {"code", "message", "errors": [{"reason", "domain"}]}}`:
`quotaExceeded` / `dailyLimitExceeded` (403) wait for the quota's reset at midnight Pacific
time; `rateLimitExceeded` / `userRateLimitExceeded` (403) are a 429-like slow down;
`keyInvalid` / `API_KEY_INVALID` (400), `forbidden`, `accessNotConfigured`,
`ipRefererBlocked` and the like (403) mean the key must be replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from app.connections.calls import (
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
    json_of,
    retry_after_seconds,
)
from app.platforms.readings import Reading, Totals
from app.platforms.troubles import DailyQuotaExceeded, calling

__all__ = ["API_KEY", "CHANNEL_ID", "MAX_VIDEOS", "PUBLIC_URL", "YouTubeConnector"]

PUBLIC_URL = "https://www.googleapis.com/youtube/v3"
API_KEY = "api_key"
CHANNEL_ID = "channel_id"
PAGE_SIZE = 50
MAX_VIDEOS = 5000
QUOTA_RESET_ZONE = "America/Los_Angeles"
DAILY_QUOTA = frozenset({"quotaExceeded", "dailyLimitExceeded"})
SLOW_DOWN = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
BAD_KEY = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"})
NAME = "YouTube"


def _reasons(response: httpx.Response) -> list[str]:
    """The reasons of Google's error body: `errors[].reason` (`quotaExceeded`, `keyInvalid`) and
    `details[].reason` (`API_KEY_INVALID`, what a wrong key gives today)."""
    try:
        error = response.json().get("error", {})
        listed = [*error.get("errors", []), *error.get("details", [])]
        return [str(item.get("reason", "")) for item in listed if isinstance(item, dict)]
    except (ValueError, AttributeError, TypeError):
        return []


def _checked(response: httpx.Response) -> Any:
    """The JSON of a good answer, or the trouble YouTube's documented error means."""
    status = response.status_code
    if status in (400, 403):
        reasons = _reasons(response)
        if DAILY_QUOTA.intersection(reasons):
            raise DailyQuotaExceeded(
                "YouTube's daily quota of the API key's project is spent; fetching again "
                "after it resets (midnight Pacific time).",
                reset_zone=QUOTA_RESET_ZONE,
            )
        if SLOW_DOWN.intersection(reasons):
            raise RateLimited(
                "YouTube asked to slow down.", retry_after=retry_after_seconds(response.headers)
            )
        if status == 403 or BAD_KEY.intersection(reasons):
            reason = ", ".join(r for r in reasons if r) or str(status)
            raise TokenRejected(
                f"YouTube refused the API key ({reason}): paste a valid key of a project with "
                "the YouTube Data API v3 enabled."
            )
    body = json_of(response, NAME)
    if not isinstance(body, dict):
        raise UnexpectedAnswer("YouTube's answer is not a JSON object.")
    return body


def _count(value: Any) -> int | None:
    """YouTube's counts are decimal strings (`"1234"`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


class YouTubeConnector:
    """Reads `Totals` (likes per video, subscribers) of the channel in `options["channel_id"]`."""

    async def read(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Mapping[str, str],
        options: Mapping[str, Any],
        today: date,
    ) -> tuple[Reading, Mapping[str, str] | None]:
        key = credentials.get(API_KEY, "")
        channel = str(options.get(CHANNEL_ID, ""))
        async with calling(NAME):
            followers, uploads = await self._channel(http, base_url, key, channel)
            video_ids = await self._uploads(http, base_url, key, uploads)
            likes = await self._likes(http, base_url, key, video_ids)
        return Totals(likes_by_item=likes, followers=followers), None

    async def _get(
        self, http: httpx.AsyncClient, url: str, key: str, params: dict[str, str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = _checked(await http.get(url, params={**params, "key": key}))
        return body

    async def _channel(
        self, http: httpx.AsyncClient, base_url: str, key: str, channel: str
    ) -> tuple[int | None, str]:
        body = await self._get(
            http, f"{base_url}/channels", key, {"part": "statistics,contentDetails", "id": channel}
        )
        items = body.get("items") or []
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise UnexpectedAnswer(
                f"YouTube knows no channel with the id {channel[:40]!r}: check the channel id "
                "(it starts with UC, under YouTube Studio > Settings > Channel > Advanced)."
            )
        item = items[0]
        statistics = item.get("statistics") or {}
        hidden = statistics.get("hiddenSubscriberCount") is True
        followers = None if hidden else _count(statistics.get("subscriberCount"))
        uploads = ((item.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        if not isinstance(uploads, str) or not uploads:
            raise UnexpectedAnswer("YouTube's channel answer has no uploads playlist.")
        return followers, uploads

    async def _uploads(
        self, http: httpx.AsyncClient, base_url: str, key: str, playlist: str
    ) -> list[str]:
        """The newest `MAX_VIDEOS` video ids of the uploads playlist, page by page."""
        ids: list[str] = []
        token: str | None = None
        while len(ids) < MAX_VIDEOS:
            params = {
                "part": "contentDetails",
                "playlistId": playlist,
                "maxResults": str(PAGE_SIZE),
            }
            if token:
                params["pageToken"] = token
            body = await self._get(http, f"{base_url}/playlistItems", key, params)
            items = body.get("items")
            if not isinstance(items, list):
                raise UnexpectedAnswer("YouTube's playlist answer has no items list.")
            for item in items:
                video = ((item or {}).get("contentDetails") or {}).get("videoId")
                if isinstance(video, str) and video not in ids:
                    ids.append(video)
            next_token = body.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token or not items:
                break
            token = next_token
        return ids[:MAX_VIDEOS]

    async def _likes(
        self, http: httpx.AsyncClient, base_url: str, key: str, video_ids: list[str]
    ) -> dict[str, int]:
        likes: dict[str, int] = {}
        for start in range(0, len(video_ids), PAGE_SIZE):
            batch = video_ids[start : start + PAGE_SIZE]
            body = await self._get(
                http, f"{base_url}/videos", key, {"part": "statistics", "id": ",".join(batch)}
            )
            items = body.get("items")
            if not isinstance(items, list):
                raise UnexpectedAnswer("YouTube's videos answer has no items list.")
            for item in items:
                if not isinstance(item, dict):
                    continue
                count = _count((item.get("statistics") or {}).get("likeCount"))
                if isinstance(item.get("id"), str) and count is not None:
                    likes[item["id"]] = count
        return likes
