"""Instagram: a professional (creator or business) account's daily likes, comments, shares and
views from its insights, and its follower count, through the Instagram API with Instagram Login.

Instagram Login (`graph.instagram.com`) is the one a creator can use without a Facebook Page
linked to the account; its user token carries `instagram_business_basic` and
`instagram_business_manage_insights`. The same requests work on `graph.facebook.com` with a
Facebook Login token (`instagram_basic`, `instagram_manage_insights`, `pages_read_engagement`):
configure that address as the provider's API URL to use one.

Per day read (`DAYS_READ` days up to yesterday, so a day missed by a poll is filled in by the
next ones), one request asks for the day's totals: `likes`, `comments`, `shares` and `views`
(`views` replaced `impressions`, retired in April 2025, and is stored as impressions), with
`metric_type=total_value&period=day` and `since`/`until` the day's bounds. A metric Instagram
has no data for is absent from its answer: unknown, never 0. The follower count is the account's
`followers_count` as read, stored on `today` (followers are a level, read once a day).

A long-lived Instagram token expires 60 days after it was made or last refreshed, and may be
refreshed once it is a day old. So every `REFRESH_EVERY_DAYS` a successful reading also asks
for a fresh token (`GET /refresh_access_token`) and returns it, with the day in
`refreshed_on`, for the connection to store: a connection polled daily never expires. The first
reading only starts that clock (a token just pasted may be under a day old); a refusal to
refresh leaves the reading as it is, and the next reading tries again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import httpx

from app.connections.calls import CallTrouble, UnexpectedAnswer
from app.platforms.graph_api import (
    GRAPH_API_VERSION,
    count_of,
    graph_get,
    numeric_id,
    stored_token,
    unix_midnight,
)
from app.platforms.readings import DailyValues, DayNumbers, Reading

__all__ = ["DAYS_READ", "INSTAGRAM", "PUBLIC_API_URL", "REFRESH_EVERY_DAYS", "InstagramConnector"]

PROVIDER = "Instagram"
PUBLIC_API_URL = f"https://graph.instagram.com/{GRAPH_API_VERSION}"
DAYS_READ = 3
REFRESH_EVERY_DAYS = 7
# leadlink's own note in the credentials: the day the token was last refreshed.
REFRESHED_ON = "refreshed_on"
# Instagram's metric → the report's number.
DAY_METRICS = {"likes": "likes", "comments": "comments", "shares": "shares", "views": "impressions"}


class InstagramConnector:
    """credentials: `access_token` (a long-lived Instagram user token), and `refreshed_on`
    once leadlink refreshed it; options: `ig_user_id`."""

    async def read(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Mapping[str, str],
        options: Mapping[str, Any],
        today: date,
    ) -> tuple[Reading, Mapping[str, str] | None]:
        token = stored_token(credentials, PROVIDER)
        account = numeric_id(options, "ig_user_id", PROVIDER)
        base = base_url.rstrip("/")
        days: dict[date, DayNumbers] = {}
        for back in range(DAYS_READ, 0, -1):
            day = today - timedelta(days=back)
            days[day] = await _day_totals(http, f"{base}/{account}/insights", token, day)
        profile = await graph_get(
            http,
            f"{base}/{account}",
            {"fields": "followers_count", "access_token": token},
            PROVIDER,
        )
        followers = profile.get("followers_count")
        days[today] = DayNumbers(
            followers=None if followers is None else count_of(followers, PROVIDER)
        )
        return DailyValues(days), await _refreshed(http, base, credentials, token, today)


async def _refreshed(
    http: httpx.AsyncClient, base: str, credentials: Mapping[str, str], token: str, today: date
) -> Mapping[str, str] | None:
    """New credentials when the token is due for a refresh (or its clock starts), else None."""
    try:
        last = date.fromisoformat(credentials.get(REFRESHED_ON, ""))
    except ValueError:
        return {**credentials, REFRESHED_ON: today.isoformat()}
    if today - last < timedelta(days=REFRESH_EVERY_DAYS):
        return None
    host = re.sub(r"/v\d+(?:\.\d+)?$", "", base)  # the endpoint has no version
    try:
        body = await graph_get(
            http,
            f"{host}/refresh_access_token",
            {"grant_type": "ig_refresh_token", "access_token": token},
            PROVIDER,
        )
    except CallTrouble:
        return None
    fresh = body.get("access_token")
    if not isinstance(fresh, str) or not fresh.strip():
        return None
    return {**credentials, "access_token": fresh.strip(), REFRESHED_ON: today.isoformat()}


async def _day_totals(http: httpx.AsyncClient, url: str, token: str, day: date) -> DayNumbers:
    body = await graph_get(
        http,
        url,
        {
            "metric": ",".join(DAY_METRICS),
            "metric_type": "total_value",
            "period": "day",
            "since": str(unix_midnight(day)),
            "until": str(unix_midnight(day + timedelta(days=1))),
            "access_token": token,
        },
        PROVIDER,
    )
    data = body.get("data")
    if not isinstance(data, list):
        raise UnexpectedAnswer(f"{PROVIDER}'s insights answer has no data list.")
    numbers: dict[str, int] = {}
    for entry in data:
        if not isinstance(entry, dict) or entry.get("name") not in DAY_METRICS:
            continue
        total = entry.get("total_value")
        if not isinstance(total, dict) or "value" not in total:
            raise UnexpectedAnswer(f"{PROVIDER} sent {entry.get('name')} without a total_value.")
        numbers[DAY_METRICS[str(entry["name"])]] = count_of(total["value"], PROVIDER)
    return DayNumbers(**numbers)


INSTAGRAM = InstagramConnector()
