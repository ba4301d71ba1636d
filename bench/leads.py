"""Scenarios of the leads API (issue 5): the first page of `GET /api/v1/leads?limit=100`, a page
~5,000 pages deep, and the streamed CSV export of every lead with the server's peak memory.

A client reaches a deep page by following `next_cursor` from the first; walking 5,000 pages
before each run would take minutes, so the setup asks the database for the id of the
`DEEP_ROW`-th lead in the list's order (`id`, erased leads left out, as `app.leads.queries` lists
them) and signs it with the app's own cursor codec and the server's secret key: byte for byte
the cursor page `DEEP_ROW / 100` hands out. With fewer leads seeded it uses the middle lead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.leads.queries import BY_ID
from app.pagination import CursorCodec
from bench.processes import RssSampler

__all__ = [
    "DEEP_PAGE_SCENARIO",
    "DEEP_ROW",
    "EXPORT_PATH",
    "FIRST_PAGE_PATH",
    "FIRST_PAGE_SCENARIO",
    "PAGE_SIZE",
    "ExportResult",
    "check_page",
    "count_lines",
    "deep_page_path",
    "download_export",
]

FIRST_PAGE_SCENARIO = "leads first page"
DEEP_PAGE_SCENARIO = "leads deep page"
PAGE_SIZE = 100
FIRST_PAGE_PATH = f"/api/v1/leads?limit={PAGE_SIZE}"
EXPORT_PATH = "/api/v1/leads/export.csv"
DEEP_ROW = 500_000  # the last lead of page 5,000: the cursor opens page 5,001
EXPORT_TIMEOUT_SECONDS = 1800.0

# The list's own order; the harness may use OFFSET once to find the key, the API never does.
_NTH_ID_SQL = "SELECT id FROM leads WHERE erased_at IS NULL ORDER BY id LIMIT 1 OFFSET :skip"
_COUNT_SQL = "SELECT count(*) FROM leads WHERE erased_at IS NULL"


async def _scalars(database_url: str, row: int | None) -> tuple[int, int | None]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            total = int((await connection.execute(text(_COUNT_SQL))).scalar_one())
            if row is None:
                return total, None
            position = min(row, total // 2)
            found = await connection.execute(text(_NTH_ID_SQL), {"skip": position - 1})
            return total, int(found.scalar_one())
    finally:
        await engine.dispose()


def listed_leads(database_url: str) -> int:
    """How many leads the list and the export show."""
    total, _ = asyncio.run(_scalars(database_url, None))
    return total


def deep_page_path(database_url: str, secret_key: str, row: int = DEEP_ROW) -> str:
    """The first-page path with the cursor a client holds after reading `row` leads (or half
    of them, when fewer are listed)."""
    total, last_id = asyncio.run(_scalars(database_url, row))
    if last_id is None or total < 2:
        raise RuntimeError(f"a deep page needs leads; {total} are listed")
    position = min(row, total // 2)
    cursor = CursorCodec(secret_key).encode(BY_ID, [last_id])
    print(
        f"  deep cursor: after lead {position:,} of {total:,} (page {position // PAGE_SIZE + 1:,} "
        f"of {-(-total // PAGE_SIZE):,})",
        file=sys.stderr,
    )
    return f"{FIRST_PAGE_PATH}&cursor={cursor}"


def check_page(base_url: str, path: str, headers: dict[str, str]) -> str | None:
    """A problem sentence unless the page has a full `PAGE_SIZE` leads and a next link."""
    response = httpx.get(base_url + path, headers=headers, timeout=30)
    if response.status_code != httpx.codes.OK:
        return f"answered {response.status_code}: {response.text[:200]}"
    items = len(response.json()["items"])
    has_next = 'rel="next"' in response.headers.get("link", "")
    print(f"  check page: {items} leads, next link {'yes' if has_next else 'NO'}", file=sys.stderr)
    if items != PAGE_SIZE or not has_next:
        return f"{items} leads (want {PAGE_SIZE}) and next link: {has_next}"
    return None


@dataclass(frozen=True)
class ExportResult:
    """One download of the export, with the server's memory while it streamed."""

    rows: int
    expected_rows: int
    seconds: float
    megabytes: float
    rss_before_mb: float
    peak_rss_mb: float

    @property
    def megabytes_per_sec(self) -> float:
        return self.megabytes / self.seconds if self.seconds > 0 else 0.0

    @property
    def problem(self) -> str | None:
        if self.rows != self.expected_rows:
            return f"{self.rows:,} rows streamed, {self.expected_rows:,} leads listed"
        return None


def count_lines(chunk: bytes) -> int:
    """Line ends in a chunk of the CSV. Rows end in CRLF and the seeded cells hold no line
    breaks; a chunk may end between the CR and the LF, so the LFs are what is counted."""
    return chunk.count(b"\n")


def download_export(
    base_url: str, database_url: str, server_pid: int, headers: dict[str, str]
) -> ExportResult:
    """Stream the whole CSV once, counting its rows, while sampling the server's RSS."""
    expected = listed_leads(database_url)
    size = lines = 0
    started = time.perf_counter()
    with (
        RssSampler(server_pid) as rss,
        httpx.stream(
            "GET", base_url + EXPORT_PATH, headers=headers, timeout=EXPORT_TIMEOUT_SECONDS
        ) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
            lines += count_lines(chunk)
    seconds = time.perf_counter() - started
    return ExportResult(
        rows=lines - 1,  # the header
        expected_rows=expected,
        seconds=seconds,
        megabytes=size / 1_000_000,
        rss_before_mb=rss.first_mb,
        peak_rss_mb=rss.peak_mb,
    )
