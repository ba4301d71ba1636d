"""The Instagram connector against a local server speaking the Graph API's documented contract:
the days' totals land on the right days, followers on the day read, and every failure is the
trouble the poller acts on (reconnect, wait, retry, show)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest

from app.connections.calls import (
    ProviderUnavailable,
    RateLimited,
    TokenRejected,
    UnexpectedAnswer,
)
from app.platforms.graph_api import unix_midnight
from app.platforms.instagram import INSTAGRAM, PUBLIC_API_URL
from app.platforms.readings import DailyValues, DayNumbers
from tests.platforms.graph_contract import (
    GraphContract,
    Queued,
    expired_token_error,
    read_days,
    serving,
)
from tests.servers import free_port

TODAY = date(2026, 12, 6)


@pytest.fixture
async def graph() -> AsyncIterator[GraphContract]:
    contract = GraphContract(
        ig_days={
            date(2026, 12, 3): {"likes": 120, "comments": 14, "shares": 3, "views": 4100},
            date(2026, 12, 4): {"likes": 95, "views": 3900},
            # 2026-12-05: Instagram has no data yet (up to 48 hours late)
            date(2026, 12, 2): {"likes": 999},  # outside the days read
        },
        ig_followers=5210,
    )
    async with serving(contract):
        yield contract


async def read(
    http: httpx.AsyncClient, graph: GraphContract, token: str | None = None
) -> DailyValues:
    credentials = {
        "access_token": graph.token if token is None else token,
        "refreshed_on": TODAY.isoformat(),  # no refresh due
    }
    options = {"ig_user_id": graph.ig_user_id}
    return await read_days(INSTAGRAM, http, graph, credentials, options, TODAY)


async def test_each_day_gets_its_own_totals_and_today_the_followers(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    reading = await read(http, graph)

    assert reading.days == {
        date(2026, 12, 3): DayNumbers(likes=120, comments=14, shares=3, impressions=4100),
        date(2026, 12, 4): DayNumbers(likes=95, impressions=3900),
        date(2026, 12, 5): DayNumbers(),  # unknown, not 0
        TODAY: DayNumbers(followers=5210),
    }


async def test_the_requests_are_the_documented_ones(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    await read(http, graph)

    insights = [q for path, q in graph.requests if path.endswith("/insights")]
    assert [(q["since"], q["until"]) for q in insights] == [
        (str(unix_midnight(date(2026, 12, d))), str(unix_midnight(date(2026, 12, d + 1))))
        for d in (3, 4, 5)
    ]
    assert {q["metric"] for q in insights} == {"likes,comments,shares,views"}
    assert all(q["metric_type"] == "total_value" and q["period"] == "day" for q in insights)
    paths = {path for path, _ in graph.requests}
    assert paths == {
        f"/v25.0/{graph.ig_user_id}/insights",
        f"/v25.0/{graph.ig_user_id}",
    }
    assert PUBLIC_API_URL == "https://graph.instagram.com/v25.0"


async def test_an_account_without_a_follower_count_leaves_it_unknown(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.ig_followers = None

    reading = await read(http, graph)

    assert reading.days[TODAY] == DayNumbers()


async def test_an_expired_token_asks_for_a_new_connection(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    with pytest.raises(TokenRejected, match=r"code 190.*connect it again"):
        await read(http, graph, token="EAAG-expired")


async def test_a_401_or_a_missing_token_is_rejected_too(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(401, b""))
    with pytest.raises(TokenRejected):
        await read(http, graph)

    calls = len(graph.requests)
    with pytest.raises(TokenRejected, match="no access token"):
        await read(http, graph, token=" ")
    assert len(graph.requests) == calls  # nothing was asked without a token


async def test_an_expired_token_in_a_200_body_is_rejected(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(200, expired_token_error()))

    with pytest.raises(TokenRejected):
        await read(http, graph)


async def test_429_waits_as_long_as_retry_after_says(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(429, {"error": {"message": "slow"}}, {"Retry-After": "120"}))

    with pytest.raises(RateLimited) as caught:
        await read(http, graph)

    assert caught.value.retry_after == 120


async def test_a_rate_limit_code_waits_until_access_is_regained(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    usage = (
        '{"17841400000000001": [{"type": "instagram", "call_count": 100, '
        '"total_cputime": 20, "total_time": 30, "estimated_time_to_regain_access": 7}]}'
    )
    graph.answers.append(
        Queued(
            400,
            {
                "error": {
                    "message": "(#80002) There have been too many calls to this Instagram account.",
                    "type": "OAuthException",
                    "code": 80002,
                }
            },
            {"X-Business-Use-Case-Usage": usage},
        )
    )

    with pytest.raises(RateLimited) as caught:
        await read(http, graph)

    assert caught.value.retry_after == 7 * 60


@pytest.mark.parametrize("code", [4, 17, 32, 613])
async def test_the_throttling_codes_are_rate_limits_with_unknown_wait(
    http: httpx.AsyncClient, graph: GraphContract, code: int
) -> None:
    graph.answers.append(
        Queued(403, {"error": {"message": "(#4) Application request limit reached", "code": code}})
    )

    with pytest.raises(RateLimited) as caught:
        await read(http, graph)

    assert caught.value.retry_after is None


async def test_5xx_is_unavailable_and_the_next_read_works(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(Queued(503, b"Service Unavailable"))
    with pytest.raises(ProviderUnavailable):
        await read(http, graph)

    reading = await read(http, graph)
    assert reading.days[date(2026, 12, 3)].likes == 120


async def test_a_temporary_graph_error_is_unavailable(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(
        Queued(500, {"error": {"message": "An unknown error", "code": 1, "is_transient": True}})
    )
    with pytest.raises(ProviderUnavailable):
        await read(http, graph)

    graph.answers.append(Queued(400, {"error": {"message": "Service", "code": 2}}))
    with pytest.raises(ProviderUnavailable):
        await read(http, graph)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Sorry, something went wrong.</html>",
        b'{"data": "not a list"}',
        b'{"data": [{"name": "likes", "period": "day"}]}',
        b'{"data": [{"name": "likes", "total_value": {"value": -3}}]}',
        b"[1, 2]",
    ],
)
async def test_a_malformed_body_is_an_unexpected_answer(
    http: httpx.AsyncClient, graph: GraphContract, body: bytes
) -> None:
    graph.answers.append(Queued(200, body))

    with pytest.raises(UnexpectedAnswer):
        await read(http, graph)


async def test_an_invalid_metric_is_an_unexpected_answer_naming_it(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.answers.append(
        Queued(400, {"error": {"message": "(#100) metric[0] must be one of …", "code": 100}})
    )

    with pytest.raises(UnexpectedAnswer, match="code 100"):
        await read(http, graph)


async def test_an_unreachable_api_is_unavailable(http: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderUnavailable):
        await INSTAGRAM.read(
            http,
            f"http://127.0.0.1:{free_port()}/v25.0",
            {"access_token": "t"},
            {"ig_user_id": "1784"},
            TODAY,
        )


@pytest.mark.parametrize("account", ["", "../me", "1784?x=1", None])
async def test_an_account_id_that_is_not_digits_is_never_sent(
    http: httpx.AsyncClient, graph: GraphContract, account: str | None
) -> None:
    with pytest.raises(UnexpectedAnswer, match="ig_user_id"):
        await INSTAGRAM.read(
            http, graph.url, {"access_token": graph.token}, {"ig_user_id": account}, TODAY
        )

    assert graph.requests == []


async def test_the_first_reading_starts_the_refresh_clock_without_calling(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    _reading, refreshed = await INSTAGRAM.read(
        http, graph.url, {"access_token": graph.token}, {"ig_user_id": graph.ig_user_id}, TODAY
    )

    assert refreshed == {"access_token": "EAAG-long-lived", "refreshed_on": "2026-12-06"}
    assert not [path for path, _ in graph.requests if path == "/refresh_access_token"]


async def test_a_token_a_week_old_is_refreshed_and_the_new_one_works(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    old = graph.token
    credentials = {"access_token": old, "refreshed_on": (TODAY - timedelta(days=7)).isoformat()}

    _reading, refreshed = await INSTAGRAM.read(
        http, graph.url, credentials, {"ig_user_id": graph.ig_user_id}, TODAY
    )

    assert refreshed == {"access_token": f"{old}-refreshed", "refreshed_on": "2026-12-06"}
    [query] = [q for p, q in graph.requests if p == "/refresh_access_token"]
    assert query == {"grant_type": "ig_refresh_token", "access_token": old}
    reading, again = await INSTAGRAM.read(
        http, graph.url, refreshed, {"ig_user_id": graph.ig_user_id}, TODAY + timedelta(days=1)
    )
    assert again is None
    assert isinstance(reading, DailyValues)


async def test_a_failed_refresh_keeps_the_reading(
    http: httpx.AsyncClient, graph: GraphContract
) -> None:
    graph.refresh_fails = True
    credentials = {"access_token": graph.token, "refreshed_on": "2026-11-01"}

    reading, refreshed = await INSTAGRAM.read(
        http, graph.url, credentials, {"ig_user_id": graph.ig_user_id}, TODAY
    )

    assert refreshed is None  # tried again at the next reading
    assert isinstance(reading, DailyValues)
    assert reading.days[date(2026, 12, 3)].likes == 120
