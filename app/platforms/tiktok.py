"""TikTok Display API v2: the account's followers and its videos' likes.

The owner's app (developers.tiktok.com) gives a **client key** and **client secret**; the owner
authorises it once with the scopes `user.info.basic`, `user.info.stats` and `video.list`, which
gives a **refresh token** (valid 365 days). Access tokens live 24 hours, so every daily read
starts with a refresh:

1. `POST /v2/oauth/token/` (form: `client_key`, `client_secret`, `grant_type=refresh_token`,
   `refresh_token`) → `access_token`, `expires_in`, `refresh_token` (possibly a new one),
   `refresh_expires_in`, `scope`, `open_id`. A refused refresh token (`{"error":
   "invalid_grant", …}`) means the owner must authorise again. The new tokens are returned as
   `refreshed` and stored encrypted (also when a later call fails: `carry_refreshed`).
2. `GET /v2/user/info/?fields=open_id,follower_count,likes_count,video_count` with
   `Authorization: Bearer …` → `data.user.follower_count`.
3. `POST /v2/video/list/?fields=id,like_count` with `{"max_count": 20, "cursor": …}` →
   `data.videos[]` (`id`, `like_count`), `data.cursor`, `data.has_more`; at most `MAX_VIDEOS`.

Every v2 answer carries `error: {code, message, log_id}`; `code` is `ok` on success. Mapped:
`access_token_invalid`, `scope_not_authorized`, `scope_permission_missed` → reconnect;
`rate_limit_exceeded` (429) → slow down; `internal_error` (5xx) → retry with back-off; anything
else → shown as an unexpected answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from app.connections.calls import (
    CallTrouble,
    ProviderUnavailable,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
    json_of,
    retry_after_seconds,
)
from app.platforms.readings import Reading, Totals
from app.platforms.troubles import calling, carry_refreshed

__all__ = [
    "ACCESS_TOKEN",
    "CLIENT_KEY",
    "CLIENT_SECRET",
    "MAX_VIDEOS",
    "PUBLIC_URL",
    "REFRESH_TOKEN",
    "REQUIRED_SCOPES",
    "TikTokConnector",
]

PUBLIC_URL = "https://open.tiktokapis.com"
CLIENT_KEY = "client_key"
CLIENT_SECRET = "client_secret"  # noqa: S105 - the name of a field
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - the name of a field
ACCESS_TOKEN = "access_token"  # noqa: S105 - the name of a field
REQUIRED_SCOPES = ("user.info.basic", "user.info.stats", "video.list")
PAGE_SIZE = 20
MAX_VIDEOS = 2000
NAME = "TikTok"
RECONNECT_CODES = frozenset(
    {"access_token_invalid", "scope_not_authorized", "scope_permission_missed"}
)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _api_answer(response: httpx.Response) -> dict[str, Any]:
    """`data` of a v2 answer whose `error.code` is `ok`, or the trouble the code means."""
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", ""))[:200] if isinstance(error, dict) else ""
    if code in RECONNECT_CODES:
        raise TokenRejected(
            f"TikTok refused the access ({code}: {message}). Authorise the app again with the "
            f"scopes {', '.join(REQUIRED_SCOPES)} and paste the new refresh token."
        )
    if code == "rate_limit_exceeded" or response.status_code == 429:
        raise RateLimited(
            "TikTok asked to slow down (rate_limit_exceeded).",
            retry_after=retry_after_seconds(response.headers),
        )
    if code == "internal_error" or response.status_code >= 500:
        raise ProviderUnavailable(f"TikTok answered {response.status_code}; trying again later.")
    if code and code != "ok":
        raise UnexpectedAnswer(f"TikTok answered {code}: {message}")
    parsed = json_of(response, NAME)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict) or code != "ok":
        raise UnexpectedAnswer("TikTok's answer is not the documented {data, error} object.")
    data: dict[str, Any] = parsed["data"]
    return data


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TikTokConnector:
    """Refreshes the access token, then reads `Totals` (likes per video, followers)."""

    async def read(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Mapping[str, str],
        options: Mapping[str, Any],
        today: date,
    ) -> tuple[Reading, Mapping[str, str] | None]:
        async with calling(NAME):
            refreshed = await self._refresh(http, base_url, credentials)
            try:
                token = refreshed[ACCESS_TOKEN]
                followers = await self._followers(http, base_url, token)
                likes = await self._likes(http, base_url, token)
            except CallTrouble as trouble:
                raise carry_refreshed(trouble, refreshed) from None
        return Totals(likes_by_item=likes, followers=followers), refreshed

    async def _refresh(
        self, http: httpx.AsyncClient, base_url: str, credentials: Mapping[str, str]
    ) -> dict[str, str]:
        response = await http.post(
            f"{base_url}/v2/oauth/token/",
            data={
                "client_key": credentials.get(CLIENT_KEY, ""),
                "client_secret": credentials.get(CLIENT_SECRET, ""),
                "grant_type": "refresh_token",
                "refresh_token": credentials.get(REFRESH_TOKEN, ""),
            },
            headers={"Cache-Control": "no-cache"},
        )
        body = _body(response)
        if response.status_code == 429:
            raise RateLimited(
                "TikTok asked to slow down.", retry_after=retry_after_seconds(response.headers)
            )
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"TikTok answered {response.status_code}; trying again later."
            )
        if isinstance(body, dict) and body.get("error") and not body.get(ACCESS_TOKEN):
            description = str(body.get("error_description", ""))[:200]
            raise TokenRejected(
                f"TikTok refused the refresh token ({body['error']}: {description}). "
                "Authorise the app again and paste the new refresh token."
            )
        parsed = json_of(response, NAME)
        if not isinstance(parsed, dict) or not isinstance(parsed.get(ACCESS_TOKEN), str):
            raise UnexpectedAnswer("TikTok's token answer has no access_token.")
        scopes = {s.strip() for s in str(parsed.get("scope", "")).split(",") if s.strip()}
        missing = [scope for scope in REQUIRED_SCOPES if scopes and scope not in scopes]
        refreshed = {
            ACCESS_TOKEN: parsed[ACCESS_TOKEN],
            REFRESH_TOKEN: str(parsed.get(REFRESH_TOKEN) or credentials.get(REFRESH_TOKEN, "")),
        }
        if missing:
            raise carry_refreshed(
                TokenRejected(
                    f"TikTok's token lacks the scopes {', '.join(missing)}: authorise the app "
                    "again with them and paste the new refresh token."
                ),
                refreshed,
            )
        return refreshed

    async def _followers(self, http: httpx.AsyncClient, base_url: str, token: str) -> int | None:
        data = _api_answer(
            await http.get(
                f"{base_url}/v2/user/info/",
                params={"fields": "open_id,follower_count,likes_count,video_count"},
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        user = data.get("user")
        if not isinstance(user, dict):
            raise UnexpectedAnswer("TikTok's user answer has no user.")
        return _count(user.get("follower_count"))

    async def _likes(self, http: httpx.AsyncClient, base_url: str, token: str) -> dict[str, int]:
        likes: dict[str, int] = {}
        cursor: int | None = None
        read = 0
        while read < MAX_VIDEOS:
            payload: dict[str, int] = {"max_count": PAGE_SIZE}
            if cursor is not None:
                payload["cursor"] = cursor
            data = _api_answer(
                await http.post(
                    f"{base_url}/v2/video/list/",
                    params={"fields": "id,like_count"},
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            videos = data.get("videos", [])
            if not isinstance(videos, list):
                raise UnexpectedAnswer("TikTok's video list has no videos list.")
            for video in videos:
                if not isinstance(video, dict):
                    continue
                count = _count(video.get("like_count"))
                if video.get("id") is not None and count is not None:
                    likes[str(video["id"])] = count
            read += len(videos)
            next_cursor = data.get("cursor")
            if not data.get("has_more") or not videos or not isinstance(next_cursor, int):
                break
            cursor = next_cursor
        return likes
