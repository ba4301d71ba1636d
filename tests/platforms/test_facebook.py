"""The Facebook Pages connector against a local server speaking the Graph API's documented
contract: one insights request for the days read, each value on the day its `end_time` closes,
reactions of every kind added up, and every failure the trouble the poller acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from app.connections.calls import (
    ProviderUnavailable,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
)
from app.platforms.facebook import FACEBOOK, PUBLIC_API_URL
from app.platforms.graph_api import unix_midnight
from app.platforms.readings import DailyValues, DayNumbers
from tests.platforms.graph_contract import (
    GraphContract,
    Queued,
    expired_token_error,
    read_days,
    serving,
)

TODAY = date(2026, 12, 6)


@pytest.fixture
async def graph() -> AsyncIterator[GraphContract]:
    contract = GraphContract(
        page_days={
            date(2026, 12, 3): {
                "page_actions_post_reactions_total": {"like": 40, "love": 9, "wow": 1},
                "page_follows": 1500,
                "page_media_view": 8800,
            },
            date(2026, 12, 4): {"page_follows": 1504, "page_media_view": 7000},
            date(2026, 12, 5): {
                "page_actions_post_reactions_total": {"like": 12},
                "page_follows": 1503,
                "page_media_view": 0,
            },
        }
    )
    async with serving(contract):
        yield contract


async def read(
    http: httpx.AsyncClient, graph: GraphContract, token: str | None = None
) -> DailyValues:
    credentials = {"access_token": graph.token if token is None else token}
    return await read_days(FACEBOOK, http, graph, credentials, {"page_id": graph.page_id}, TODAY)


async def test_each_value_lands_on_the_day_it_closes(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    reading = await read(http, graph)

    assert reading.days == {
        date(2026, 12, 3): DayNumbers(likes=50, followers=1500, impressions=8800),
        date(2026, 12, 4): DayNumbers(likes=0, followers=1504, impressions=7000),
        date(2026, 12, 5): DayNumbers(likes=12, followers=1503, impressions=0),
    }


async def test_one_documented_request_reads_the_window_and_paging_is_not_followed(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    await read(http, graph)

    assert len(graph.requests) == 1
    path, query = graph.requests[0]
    assert path == f"/v25.0/{graph.page_id}/insights"
    assert query == {
        "metric": "page_actions_post_reactions_total,page_follows,page_media_view",
        "period": "day",
        "since": str(unix_midnight(date(2026, 12, 3))),
        "until": str(unix_midnight(TODAY)),
        "access_token": graph.token,
    }
    assert PUBLIC_API_URL == "https://graph.facebook.com/v25.0"


async def test_values_outside_the_window_are_ignored(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    body = {
        "data": [
            {
                "name": "page_follows",
                "period": "day",
                "values": [
                    {"value": 10, "end_time": "2026-12-03T08:00:00+0000"},  # 2026-12-02
                    {"value": 11, "end_time": "2026-12-04T08:00:00+0000"},
                    {"value": 12, "end_time": "2026-12-07T08:00:00+0000"},  # today: not yet whole
                ],
            },
            {"name": "page_follows", "period": "week", "values": [{"value": 99}]},
        ]
    }
    graph.answers.append(Queued(200, body))

    reading = await read(http, graph)

    assert reading.days == {
        date(2026, 12, 3): DayNumbers(followers=11),
        date(2026, 12, 4): DayNumbers(),
        date(2026, 12, 5): DayNumbers(),
    }


async def test_a_retired_metric_is_an_unexpected_answer(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(
        Queued(
            400,
            {
                "error": {
                    "message": "(#100) The value must be a valid insights metric",
                    "type": "OAuthException",
                    "code": 100,
                }
            },
        )
    )

    with pytest.raises(UnexpectedAnswer, match="valid insights metric"):
        await read(http, graph)


async def test_an_expired_page_token_asks_for_a_new_connection(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    with pytest.raises(TokenRejected, match="connect it again"):
        await read(http, graph, token="EAAG-old")

    graph.answers.append(Queued(200, expired_token_error()))
    with pytest.raises(TokenRejected):
        await read(http, graph)


async def test_a_missing_permission_asks_for_a_new_connection(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(
        Queued(403, {"error": {"message": "(#200) Requires read_insights permission", "code": 200}})
    )

    with pytest.raises(TokenRejected, match="read_insights"):
        await read(http, graph)


async def test_429_waits_as_long_as_retry_after_says(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(429, b"", {"Retry-After": "30"}))

    with pytest.raises(RateLimited) as caught:
        await read(http, graph)

    assert caught.value.retry_after == 30


async def test_the_page_rate_limit_waits_until_access_is_regained(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    usage = (
        '{"104000000000001": [{"type": "pages", "call_count": 100, "total_cputime": 5, '
        '"total_time": 5, "estimated_time_to_regain_access": 15}]}'
    )
    graph.answers.append(
        Queued(
            400,
            {"error": {"message": "(#32) Page request limit reached", "code": 32}},
            {"X-Business-Use-Case-Usage": usage},
        )
    )

    with pytest.raises(RateLimited) as caught:
        await read(http, graph)

    assert caught.value.retry_after == 15 * 60


async def test_5xx_is_unavailable_and_the_next_read_works(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(502, b"<html>Bad Gateway</html>"))
    with pytest.raises(ProviderUnavailable):
        await read(http, graph)

    reading = await read(http, graph)
    assert reading.days[date(2026, 12, 5)].likes == 12


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"paging": {}}',
        b'{"data": [{"name": "page_follows", "values": "x"}]}',
        b'{"data": [{"name": "page_follows", "values": [{"value": 3}]}]}',
        b'{"data": [{"name": "page_follows", "values": [{"value": "3", '
        b'"end_time": "2026-12-04T08:00:00+0000"}]}]}',
    ],
)
async def test_a_malformed_body_is_an_unexpected_answer(
    http: httpx.AsyncClient, graph: GraphContract, body: bytes
) -> None:
    graph.answers.append(Queued(200, body))

    with pytest.raises(UnexpectedAnswer):
        await read(http, graph)


async def test_a_page_id_that_is_not_digits_is_never_sent(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    with pytest.raises(UnexpectedAnswer, match="page_id"):
        await FACEBOOK.read(
            http, graph.url, {"access_token": graph.token}, {"page_id": "me/feed"}, TODAY
        )

    assert graph.requests == []
