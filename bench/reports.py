"""Scenarios of the conversion report (`GET /api/v1/reports/conversion` per source, over 7, 90
and 365 days, for one handle and for every handle) and the preparation that seeds their data.

`--scale N` seeds N visits and N / 10 leads (default 200,000 and 20,000; the issue's full scale is
`--scale 10000000`) with `python -m bench.seed`, which prints how long it took.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

from bench.seed import HANDLES

__all__ = ["DEFAULT_SCALE", "HEADERS", "REQUESTS", "SEED_TIMEOUT_SECONDS", "seed_argv", "warm_up"]

DEFAULT_SCALE = 200_000
SEED_TIMEOUT_SECONDS = 3600.0  # the full scale takes minutes on SQLite
# A key for this run only (reports:read and leads:read); `bench.seed` stores its hash.
API_KEY = "ll_bench_" + secrets.token_urlsafe(32)
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def _path(days: int, handle: str | None) -> str:
    # The seeded data ends today in the report time zone (UTC for the bench server).
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days - 1)
    scope = f"&handle={handle}" if handle else ""
    return f"/api/v1/reports/conversion?group_by=source&from={start}&to={today}{scope}"


REQUESTS: tuple[tuple[str, str], ...] = tuple(
    (f"report {days}d {'one handle' if handle else 'all handles'}", _path(days, handle))
    for handle in (HANDLES[0], None)
    for days in (7, 90, 365)
)
"""(scenario name, path) of each report scenario."""


def seed_argv(visits: int) -> Sequence[str]:
    """`bench.seed` for `visits` visits, a tenth as many leads, and this run's API key."""
    return [
        sys.executable, "-m", "bench.seed", "--visits", str(visits),
        "--leads", str(max(1, visits // 10)), "--api-key", API_KEY,
    ]  # fmt: skip


def warm_up(base_url: str) -> None:
    """One request per report shape before wrk arrives: the first request of a shape builds and
    compiles its statement, and the key's first use is recorded; the warm-up would otherwise
    start with a cold start rather than the report."""
    for _name, path in REQUESTS:
        response = httpx.get(base_url + path, headers=HEADERS, timeout=30)
        response.raise_for_status()
