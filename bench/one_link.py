"""Scenarios of the one link (`/@handle`), and the check that every answered visit became a row.

After each scenario the bench prints how many responses wrk counted, how many visit rows were
written, and whether the daily rollups still equal the raw rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["VisitRowsCheck", "create_redirect_handle", "rollup_mismatches", "visit_rows"]

INSTAGRAM_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 Mobile Safari/537.36 "
    "Instagram 321.0.0.39.106 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; "
    "shiba; en_US; 574936440)"
)
REDIRECT_HANDLE = "bench-go"
REDIRECT_TARGET = "https://example.com/shop"
# wrk abandons requests still in flight when each of its two runs (warm-up, measured) stops; the
# server may still answer and count them, so rows may exceed responses by up to this much.
IN_FLIGHT_SLACK_PER_RUN = 64
WRITER_SETTLE_SECONDS = 1.5  # the visit writer flushes every 0.2 s

ROLLUP_MISMATCH_SQL = """
SELECT count(*) FROM (
  SELECT day, handle_id, coalesce(page_id, 0) AS page_id, source,
         sum(CASE WHEN kind = 'visit' THEN 1 ELSE 0 END) AS visits,
         count(DISTINCT CASE WHEN kind = 'visit' THEN visitor_hash END) AS uniques,
         sum(CASE WHEN kind = 'preview' THEN 1 ELSE 0 END) AS previews
  FROM visits GROUP BY day, handle_id, coalesce(page_id, 0), source
) raw
FULL OUTER JOIN visit_rollups r
  ON r.day = raw.day AND r.handle_id = raw.handle_id AND r.page_id = raw.page_id
 AND r.source = raw.source
WHERE raw.visits IS DISTINCT FROM r.visits OR raw.uniques IS DISTINCT FROM r.unique_visitors
   OR raw.previews IS DISTINCT FROM r.previews
"""


async def _scalar(database_url: str, sql: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


def visit_rows(database_url: str) -> int:
    return asyncio.run(_scalar(database_url, "SELECT count(*) FROM visits"))


def rollup_mismatches(database_url: str) -> int:
    """Rollup rows that differ from a recount of the raw visits (0 when they agree)."""
    sql = ROLLUP_MISMATCH_SQL
    if database_url.startswith("sqlite"):
        # SQLite (3.39+) has FULL OUTER JOIN; it spells IS DISTINCT FROM as IS NOT.
        sql = sql.replace("IS DISTINCT FROM", "IS NOT")
    return asyncio.run(_scalar(database_url, sql))


class VisitRowsCheck:
    """Counts the visit rows a scenario adds and compares them with wrk's responses."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.before = 0

    def setup(self, database_url: str | None) -> None:
        self.before = visit_rows(database_url) if database_url else 0

    def check(self, database_url: str | None, responses: int) -> str | None:
        if database_url is None:
            return None
        time.sleep(WRITER_SETTLE_SECONDS)
        written = visit_rows(database_url) - self.before
        mismatches = rollup_mismatches(database_url)
        extra = written - responses
        print(
            f"  check {self.scenario}: {responses:,} responses counted by wrk, {written:,} visit "
            f"rows written ({extra:+,} answered after wrk stopped counting); rollups equal raw "
            f"rows: {'yes' if mismatches == 0 else f'NO ({mismatches} rows differ)'}",
            file=sys.stderr,
        )
        if not 0 <= extra <= 2 * IN_FLIGHT_SLACK_PER_RUN:
            return f"{written} visit rows for {responses} responses"
        if mismatches:
            return f"{mismatches} rollup rows differ from the raw visits"
        return None


def create_redirect_handle(database_url: str | None) -> None:
    """A handle whose only route redirects every visitor to an external URL."""
    if database_url is None:
        return
    leadlink = str(Path(sys.executable).parent / "leadlink")
    env = {**os.environ, "LEADLINK_DATABASE_URL": database_url}
    for argv in (
        [leadlink, "handles", "create", REDIRECT_HANDLE],
        [leadlink, "handles", "route", REDIRECT_HANDLE, "--url", REDIRECT_TARGET],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and "already taken" not in done.stderr:
            raise RuntimeError(f"{' '.join(argv[1:])}: {done.stderr.strip()}")
