"""Two replicas behind HAProxy on one PostgreSQL database, with two outbox workers and the rate
limits in Redis (the cluster is built by tests/reliability/replicas.py).

One cluster, three phases, because starting it costs more than each phase:
1. Concurrent opt-ins through the proxy: an address sent through both replicas at once stays
   one lead.
2. One client meets its opt-in limit once across both replicas, not once per replica, also when
   it writes its own `X-Forwarded-For`; another client is not limited by it.
3. A rolling restart (SIGTERM one replica, wait for it to exit, start it, wait until the proxy
   sees it ready, then the other) under continuous opt-ins and clicks loses no request: no 5xx
   from the proxy, no connection cut, every acknowledged opt-in and every answered click stored.
Then every email and webhook queued by all of it is delivered by the two workers, none twice.
The figures are printed (`pytest -s`) and the brief of each phase is in its helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.databases import FreshDatabases
from tests.reliability.replicas import (
    BROWSER,
    CHECK_INTERVAL_MS,
    Cluster,
    Tally,
    haproxy_config,
    haproxy_or_skip,
    portable_lines,
)
from tests.servers import REPO_ROOT, RawConnection
from tests.waiting import eventually

PAIRS = 60  # addresses each sent twice at the same moment
SINGLES = 40
PAIRS_IN_FLIGHT = 16
PER_IP = 6  # LEADLINK_OPTIN_RATE_PER_IP, per minute and page
# During the rolling restart: opt-ins and one-link clicks in flight all along, each loop pausing
# between requests so that the restarted replica gets some of the 2 cores to start on.
OPT_IN_LOOPS = 4
CLICK_LOOPS = 12
PAUSE_SECONDS = 0.05
CUT = (OSError, AssertionError, asyncio.IncompleteReadError)  # a request without an answer


def test_the_documented_haproxy_configuration_is_the_tested_one(tmp_path: Path) -> None:
    production = (REPO_ROOT / "docs" / "production.md").read_text()
    documented = re.search(r"```haproxy\n(.*?)```", production, re.DOTALL)
    assert documented is not None, "docs/production.md shows no HAProxy configuration"
    tested = haproxy_config(
        port=80,
        servers={"a": 8000, "b": 8000},
        stats_socket=Path("/run/haproxy/admin.sock"),
        check_interval_ms=CHECK_INTERVAL_MS,
    )
    assert portable_lines(documented.group(1)) == portable_lines(tested)
    # And HAProxy itself accepts it as written (with a socket path this test may use).
    config = tmp_path / "documented.cfg"
    config.write_text(documented.group(1).replace("/run/haproxy", str(tmp_path)))
    check = subprocess.run(
        [haproxy_or_skip(), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
@pytest.mark.postgresql_only
async def test_two_replicas_behind_a_proxy_lose_nothing_and_share_their_limits(
    fresh_databases: FreshDatabases, tmp_path: Path
) -> None:
    settings = {"LEADLINK_OPTIN_RATE_PER_IP": f"{PER_IP}/minute"}
    began = time.monotonic()
    async with Cluster.start(fresh_databases, tmp_path, **settings) as cluster:
        ready = time.monotonic()
        crossed = await _one_lead_per_address(cluster)
        limited = await _one_limit_across_replicas(cluster)
        restart = await _rolling_restart(cluster)
        restarted = time.monotonic()

        leads = await cluster.count("SELECT count(*) FROM leads")
        assert leads == PAIRS + SINGLES + PER_IP + 1 + len(restart.acked)
        deliveries = await cluster.delivered()
        assert deliveries.complete, "the messages received are not the ones queued"
        assert deliveries.sent_twice == []
        assert len(deliveries.emails_queued) == leads  # one confirmation per lead
        assert deliveries.created_events == leads
        print(
            f"\nreplicas: {2 * PAIRS + SINGLES} concurrent opt-ins, {crossed} of {PAIRS} "
            f"same-address pairs answered by both replicas, one lead each; one client: "
            f"{limited}\n{restart.summary}\n"
            f"deliveries: {len(deliveries.emails_queued)} emails and "
            f"{len(deliveries.webhooks_queued)} webhooks queued, each received once "
            f"{time.monotonic() - restarted:.1f} s after the load ended\n"
            f"the cluster started in {ready - began:.1f} s"
        )


async def _one_lead_per_address(cluster: Cluster) -> int:
    """Every address twice at once, others once, each submission from a client of its own:
    all answered 303, one lead per address. Returns how many pairs reached both replicas (the
    proxy's log says which replica answered which client)."""
    sent: list[tuple[str, str, int]] = []  # (email, client address, status)
    gate = asyncio.Semaphore(PAIRS_IN_FLIGHT)

    async def submit(email: str, times: int) -> None:
        sources = [cluster.new_source() for _ in range(times)]
        async with gate:
            answers = await asyncio.gather(
                *(cluster.opt_in(email, source=source) for source in sources)
            )
        sent.extend(
            (email, source, status) for source, (status, _) in zip(sources, answers, strict=True)
        )

    emails = [(f"twice-{n}@example.com", 2) for n in range(PAIRS)]
    emails += [(f"once-{n}@example.com", 1) for n in range(SINGLES)]
    await asyncio.gather(*(submit(email, times) for email, times in emails))

    assert Counter(status for _, _, status in sent) == {303: 2 * PAIRS + SINGLES}
    assert await cluster.count("SELECT count(*) FROM leads") == PAIRS + SINGLES
    assert await cluster.count("SELECT count(DISTINCT email) FROM leads") == PAIRS + SINGLES
    served_by = {line.client: line.server for line in cluster.proxy.log_lines()}
    replicas_of: dict[str, set[str]] = {}
    for email, source, _ in sent:
        replicas_of.setdefault(email, set()).add(served_by[source])
    crossed = sum(1 for servers in replicas_of.values() if servers == {"a", "b"})
    assert crossed >= PAIRS // 5, f"only {crossed} pairs reached both replicas"
    return crossed


async def _one_limit_across_replicas(cluster: Cluster) -> str:
    """One client posts twice its per-IP limit through the proxy, which alternates replicas:
    exactly the limit is accepted, the rest is 429 with Retry-After. Its own X-Forwarded-For
    changes nothing (the proxy adds the real address as a header line of its own); another
    client is accepted."""
    client, other = "127.0.0.77", "127.0.0.78"
    before = await cluster.count("SELECT count(*) FROM leads")
    answers = [
        await cluster.opt_in(f"limited-{n}@example.com", source=client) for n in range(2 * PER_IP)
    ]
    spoofed = [
        await cluster.opt_in(
            f"spoofed-{n}@example.com",
            source=client,
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
        for n in range(3)
    ]
    another, _ = await cluster.opt_in("another@example.com", source=other)

    statuses = [status for status, _ in answers]
    assert statuses == [303] * PER_IP + [429] * PER_IP, statuses
    assert all(int(headers["retry-after"]) >= 1 for _, headers in answers[PER_IP:])
    assert [status for status, _ in spoofed] == [429] * 3
    assert another == 303
    served = Counter(line.server for line in cluster.proxy.log_lines() if line.client == client)
    assert set(served) == {"a", "b"}, served
    assert await cluster.count("SELECT count(*) FROM leads") == before + PER_IP + 1
    return (
        f"{statuses.count(303)} of {len(statuses)} opt-ins accepted (limit {PER_IP}/minute) "
        f"while replicas a and b answered {served['a']} and {served['b']} of its requests"
    )


@dataclass
class RollingRestart:
    tally: Tally = field(default_factory=Tally)
    acked: list[str] = field(default_factory=list)  # addresses answered 303
    summary: str = ""


async def _rolling_restart(cluster: Cluster) -> RollingRestart:
    """Opt-ins (each a new visitor) and clicks (keep-alive connections) run all along while
    each replica in turn gets SIGTERM, exits, starts again and is seen ready by the proxy."""
    result = RollingRestart()
    tally = result.tally
    leads_before = await cluster.count("SELECT count(*) FROM leads")
    visits_before = await cluster.count("SELECT count(*) FROM visits")
    proxy_5xx_before = cluster.proxy.answers_5xx()
    stop = asyncio.Event()
    exits: dict[str, int] = {}
    steps: list[str] = []
    started = time.monotonic()
    load = [
        *(_opt_in_loop(cluster, result, stop) for _ in range(OPT_IN_LOOPS)),
        *(_click_loop(cluster, tally, stop) for _ in range(CLICK_LOOPS)),
    ]
    tasks = [asyncio.create_task(loop) for loop in load]
    try:
        await asyncio.sleep(1)
        for name, replica in cluster.replicas.items():
            moment = time.monotonic()
            exits[name] = await asyncio.to_thread(replica.stop, signal.SIGTERM)
            stopped = time.monotonic()
            await asyncio.to_thread(replica.start)
            answering = time.monotonic()
            await asyncio.to_thread(cluster.proxy.wait_until_status, name, "UP")
            steps.append(
                f"{name}: exited {stopped - moment:.1f} s after SIGTERM, answered "
                f"{answering - stopped:.1f} s after its start, in the proxy "
                f"{time.monotonic() - answering:.1f} s later"
            )
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    duration = time.monotonic() - started

    proxy_5xx = cluster.proxy.answers_5xx() - proxy_5xx_before
    stored = await cluster.count("SELECT count(*) FROM leads") - leads_before
    clicks = tally.of("click", 200)

    async def visits_stored() -> int:
        return await cluster.count("SELECT count(*) FROM visits") - visits_before

    # The replicas still serving hold the last visits in their writers' buffers for a moment.
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: _at_least(visits_stored(), clicks), within=10, what="the visits written"
        )
    visits = await visits_stored()
    result.summary = (
        f"rolling restart: {tally.sent} requests in {duration:.1f} s ({tally.of('opt-in')} "
        f"opt-ins, {tally.of('click')} clicks); 5xx seen by the clients {tally.answered_5xx}, "
        f"by HAProxy {proxy_5xx}; cut without an answer {len(tally.failures)}; leads "
        f"acknowledged {len(result.acked)}, stored {stored}; visits answered {clicks}, "
        f"stored {visits} ({'; '.join(steps)})"
    )
    print(f"\n{result.summary}")
    assert tally.failures == []
    assert set(tally.statuses) == {("opt-in", 303), ("click", 200)}, tally.statuses
    assert proxy_5xx == 0
    assert stored == len(result.acked)
    assert visits == clicks
    for name, replica in cluster.replicas.items():
        assert exits[name] in {0, -signal.SIGTERM}, replica.output()[-3000:]
    assert len(result.acked) >= 40
    assert clicks >= 400
    return result


async def _at_least(count: Awaitable[int], expected: int) -> bool:
    return await count >= expected


async def _opt_in_loop(cluster: Cluster, result: RollingRestart, stop: asyncio.Event) -> None:
    while not stop.is_set():
        source = cluster.new_source()
        email = f"visitor-{source.replace('.', '-')}@example.com"
        try:
            status, _ = await cluster.opt_in(email, source=source)
        except CUT as exc:
            result.tally.failures.append(f"opt-in {email}: {type(exc).__name__}: {exc}")
            continue
        result.tally.count("opt-in", status)
        if status == 303:
            result.acked.append(email)
        await asyncio.sleep(PAUSE_SECONDS)


async def _click_loop(cluster: Cluster, tally: Tally, stop: asyncio.Event) -> None:
    connection = RawConnection(cluster.proxy.port, user_agent=BROWSER, source=cluster.new_source())
    try:
        while not stop.is_set():
            try:
                status, _, _ = await connection.request("GET", "/@demo")
            except CUT as exc:
                tally.failures.append(f"click: {type(exc).__name__}: {exc}")
                await connection.close()
                continue
            tally.count("click", status)
            await asyncio.sleep(PAUSE_SECONDS)
    finally:
        await connection.close()
