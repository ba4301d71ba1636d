"""Facebook Pages: a Page's daily reactions, followers and views from its insights.

One request, `GET /{page-id}/insights?metric=…&period=day&since=…&until=…`, with a Page access
token (`read_insights`, `pages_read_engagement`), reads `DAYS_READ` days up to yesterday, so a
day missed by a poll is filled in by the next ones. The metrics, chosen among those still served
after Meta's 2024-2025 deprecations:

- likes: `page_actions_post_reactions_total`, the day's reactions on the Page's posts, a count
  per kind (like, love, wow, …) added up. A Page's own "likes" (`page_fans`) were retired in
  November 2025, and reactions are what a visitor taps on a post.
- followers: `page_follows`, the Page's followers that day (what replaced `page_fans`).
- impressions: `page_media_view`, how often the Page's content was seen (what replaced
  `page_impressions`, retired in November 2025).

Comments and shares have no Page-level daily metric (only per post): they stay unknown. Each
value's `end_time` is the end of its day, so it counts for the day before. The answer's
`paging.next` points at the following window of dates, not at more of this one, so it is not
followed: one answer holds the whole window (up to 90 days may be asked at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import httpx

from app.connections.calls import UnexpectedAnswer
from app.platforms.graph_api import (
    GRAPH_API_VERSION,
    count_of,
    graph_get,
    insight_day,
    numeric_id,
    stored_token,
    unix_midnight,
)
from app.platforms.readings import DailyValues, DayNumbers, Reading

__all__ = ["DAYS_READ", "FACEBOOK", "PUBLIC_API_URL", "FacebookConnector"]

PROVIDER = "Facebook"
PUBLIC_API_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
DAYS_READ = 3
# The Page's metric → the report's number.
DAY_METRICS = {
    "page_actions_post_reactions_total": "likes",
    "page_follows": "followers",
    "page_media_view": "impressions",
}


class FacebookConnector:
    """credentials: `access_token` (a Page access token); options: `page_id`."""

    async def read(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Mapping[str, str],
        options: Mapping[str, Any],
        today: date,
    ) -> tuple[Reading, Mapping[str, str] | None]:
        token = stored_token(credentials, PROVIDER)
        page = numeric_id(options, "page_id", PROVIDER)
        first = today - timedelta(days=DAYS_READ)
        body = await graph_get(
            http,
            f"{base_url.rstrip('/')}/{page}/insights",
            {
                "metric": ",".join(DAY_METRICS),
                "period": "day",
                "since": str(unix_midnight(first)),
                "until": str(unix_midnight(today)),
                "access_token": token,
            },
            PROVIDER,
        )
        numbers = _numbers_by_day(body, first, today)
        days = {day: DayNumbers(**numbers.get(day, {})) for day in _window(first, today)}
        return DailyValues(days), None


def _window(first: date, today: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((today - first).days)]


def _numbers_by_day(
    body: Mapping[str, Any], first: date, today: date
) -> dict[date, dict[str, int]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise UnexpectedAnswer(f"{PROVIDER}'s insights answer has no data list.")
    numbers: dict[date, dict[str, int]] = {}
    for entry in data:
        if not isinstance(entry, dict) or entry.get("name") not in DAY_METRICS:
            continue
        if entry.get("period") not in (None, "day"):
            continue
        values = entry.get("values")
        if not isinstance(values, list):
            raise UnexpectedAnswer(f"{PROVIDER} sent {entry['name']} without values.")
        field = DAY_METRICS[str(entry["name"])]
        for point in values:
            if not isinstance(point, dict) or "value" not in point:
                raise UnexpectedAnswer(f"{PROVIDER} sent a value of {entry['name']} without one.")
            day = insight_day(point.get("end_time"), PROVIDER)
            if first <= day < today:
                numbers.setdefault(day, {})[field] = count_of(point["value"], PROVIDER)
    return numbers


FACEBOOK = FacebookConnector()
