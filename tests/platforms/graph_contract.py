"""A local stand-in for Meta's Graph API, speaking its documented contract for what the Instagram
and Facebook Pages connectors ask: served by uvicorn on a free port for the test.

What it checks, as Meta's documentation states it: the version in the path, the access token in
the `access_token` query parameter, the metric names still served (a retired one, such as
`impressions` or `page_fans`, is the documented `(#100)` invalid-metric error), `period=day`,
`metric_type=total_value` for Instagram's account totals, `since`/`until` as Unix seconds (at
most 30 days for Instagram's totals, 90 for a Page). What it answers: insights as `data` entries
(`total_value` for Instagram, `values` with `end_time` at the end of each day for a Page), and
errors as `{"error": {"message", "type", "code", …}}` with the status Graph uses. A test queues
a whole answer in `answers` to see a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.platforms.graph_api import GRAPH_API_VERSION
from app.platforms.readings import DailyValues, PlatformConnector
from tests.servers import serving_on_free_port

__all__ = ["GraphContract", "Queued", "expired_token_error", "read_days", "serving"]

INSTAGRAM_TOTAL_METRICS = {
    "likes",
    "comments",
    "shares",
    "saves",
    "replies",
    "views",
    "reach",
    "total_interactions",
    "accounts_engaged",
    "follows_and_unfollows",
    "profile_links_taps",
}
PAGE_DAY_METRICS = {
    "page_actions_post_reactions_total",
    "page_follows",
    "page_daily_follows_unique",
    "page_media_view",
    "page_post_engagements",
    "page_views_total",
}


@dataclass
class Queued:
    """An answer given instead of the documented one, to the next request."""

    status: int
    body: bytes | dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GraphContract:
    token: str = "EAAG-long-lived"
    # Instagram: per day, the account's totals by metric name; its followers_count.
    ig_user_id: str = "17841400000000001"
    ig_days: dict[date, dict[str, int]] = field(default_factory=dict)
    ig_followers: int | None = 5210
    # Facebook: per day, the Page's values by metric name (reactions: a dict by kind).
    page_id: str = "104000000000001"
    page_days: dict[date, dict[str, Any]] = field(default_factory=dict)
    answers: list[Queued] = field(default_factory=list)
    refresh_fails: bool = False
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()
        version = GRAPH_API_VERSION

        @app.get("/refresh_access_token")  # Instagram Login's, without a version
        async def refresh(request: Request) -> Response:
            query = dict(request.query_params)
            self.requests.append((request.url.path, query))
            if self.refresh_fails:
                return JSONResponse({"error": {"message": "An unknown error", "code": 1}}, 500)
            if query.get("grant_type") != "ig_refresh_token":
                status, body = _error(100, "(#100) grant_type must be ig_refresh_token")
                return JSONResponse(body, status)
            if query.get("access_token") != self.token:
                return JSONResponse(expired_token_error(), 400)
            self.token = f"{self.token}-refreshed"  # valid for 60 days from now
            return JSONResponse(
                {"access_token": self.token, "token_type": "bearer", "expires_in": 5184000}
            )

        @app.get(f"/{version}/{{node}}/insights")
        async def insights(node: str, request: Request) -> Response:
            return self._answer(request, lambda q: self._insights(node, q))

        @app.get(f"/{version}/{{node}}")
        async def fields(node: str, request: Request) -> Response:
            return self._answer(request, lambda q: self._fields(node, q))

        return app

    def _answer(self, request: Request, documented: Any) -> Response:
        query = dict(request.query_params)
        self.requests.append((request.url.path, query))
        if self.answers:
            queued = self.answers.pop(0)
            if isinstance(queued.body, bytes):
                return Response(queued.body, queued.status, queued.headers, "application/json")
            return JSONResponse(queued.body, queued.status, queued.headers)
        if query.get("access_token") != self.token:
            return JSONResponse(expired_token_error(), 400)
        status, body = documented(query)
        return JSONResponse(body, status)

    def _fields(self, node: str, query: dict[str, str]) -> tuple[int, Any]:
        if node != self.ig_user_id:
            return _error(100, f"Unsupported get request. Object with ID '{node}' does not exist")
        answer: dict[str, Any] = {"id": node}
        for name in query.get("fields", "").split(","):
            if name == "followers_count" and self.ig_followers is not None:
                answer[name] = self.ig_followers
        return 200, answer

    def _insights(self, node: str, query: dict[str, str]) -> tuple[int, Any]:
        metrics = [m for m in query.get("metric", "").split(",") if m]
        if not metrics:
            return _error(100, "(#100) The value must be a valid insights metric")
        if query.get("period") != "day":
            return _error(100, "(#100) period must be one of the following values: day")
        try:
            since = datetime.fromtimestamp(int(query["since"]), UTC).date()
            until = datetime.fromtimestamp(int(query["until"]), UTC).date()
        except (KeyError, ValueError):
            return _error(100, "(#100) since and until must be Unix timestamps")
        if until <= since:
            return _error(100, "(#100) until must be after since")
        if node == self.ig_user_id:
            return self._instagram(metrics, query, since, until)
        if node == self.page_id:
            return self._page(metrics, since, until)
        return _error(100, f"Unsupported get request. Object with ID '{node}' does not exist")

    def _instagram(
        self, metrics: list[str], query: dict[str, str], since: date, until: date
    ) -> tuple[int, Any]:
        unknown = [m for m in metrics if m not in INSTAGRAM_TOTAL_METRICS]
        if unknown:
            return _error(100, f"(#100) metric[0] must be one of the following values: {unknown}")
        if query.get("metric_type") != "total_value":
            return _error(
                100,
                "(#100) The following metrics should be specified with "
                "parameter metric_type=total_value",
            )
        if (until - since).days > 30:
            return _error(100, "(#100) The since and until range must be at most 30 days")
        days = [since + timedelta(days=n) for n in range((until - since).days)]
        data = []
        for metric in metrics:
            known = [self.ig_days[d][metric] for d in days if metric in self.ig_days.get(d, {})]
            if known:  # no data: the metric is left out, never 0 (as documented)
                data.append(
                    {
                        "name": metric,
                        "period": "day",
                        "title": metric.capitalize(),
                        "total_value": {"value": sum(known)},
                        "id": f"{self.ig_user_id}/insights/{metric}/day",
                    }
                )
        return 200, {"data": data}

    def _page(self, metrics: list[str], since: date, until: date) -> tuple[int, Any]:
        unknown = [m for m in metrics if m not in PAGE_DAY_METRICS]
        if unknown:
            return _error(100, f"(#100) The value must be a valid insights metric: {unknown[0]}")
        if (until - since).days > 90:
            return _error(100, "(#100) There cannot be more than 90 days between since and until")
        days = [since + timedelta(days=n) for n in range((until - since).days)]
        data = []
        for metric in metrics:
            values = [
                {
                    "value": self.page_days.get(d, {}).get(
                        metric, {} if "reactions" in metric else 0
                    ),
                    "end_time": f"{(d + timedelta(days=1)).isoformat()}T08:00:00+0000",
                }
                for d in days
            ]
            data.append(
                {
                    "name": metric,
                    "period": "day",
                    "values": values,
                    "title": metric,
                    "id": f"{self.page_id}/insights/{metric}/day",
                }
            )
        span = until - since
        after = _unix(until)
        return 200, {
            "data": data,
            "paging": {
                "previous": f"{self.url}/{self.page_id}/insights?since={_unix(since - span)}"
                f"&until={_unix(since)}",
                "next": f"{self.url}/{self.page_id}/insights?since={after}"
                f"&until={_unix(until + span)}",
            },
        }


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _error(code: int, message: str, status: int = 400) -> tuple[int, Any]:
    return status, {
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}
    }


def expired_token_error() -> dict[str, Any]:
    """Graph's answer to an expired token (code 190, subcode 463), sent with status 400."""
    return {
        "error": {
            "message": "Error validating access token: Session has expired on Friday, "
            "04-Dec-26 09:00:00 PST.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
            "fbtrace_id": "AbCdEf",
        }
    }


@asynccontextmanager
async def serving(contract: GraphContract) -> AsyncIterator[GraphContract]:
    """`contract` served on a free local port; its `url` is the versioned base address."""
    async with serving_on_free_port(contract.app()) as port:
        contract.url = f"http://127.0.0.1:{port}/{GRAPH_API_VERSION}"
        yield contract


async def read_days(  # noqa: PLR0917
    connector: PlatformConnector,
    http: httpx.AsyncClient,
    contract: GraphContract,
    credentials: dict[str, str],
    options: dict[str, Any],
    today: date,
) -> DailyValues:
    """What `connector` reads from `contract` on `today`: days' values, and no token to store
    (a test of the token refresh calls `read` itself)."""
    reading, refreshed = await connector.read(http, contract.url, credentials, options, today)
    assert refreshed is None
    assert isinstance(reading, DailyValues)
    return reading
