"""10,000 concurrent visits against a real `leadlink serve` process, then SIGTERM: every visit is
a row, exactly once, and the rollups equal the raw rows. On SQLite and on a real PostgreSQL
database created for the run.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import create_engine
from app.links.models import Visit
from app.links.sources import detect_source
from tests.databases import make_settings
from tests.factories import seed_demo_page
from tests.links.visit_checks import assert_rollups_equal_raw_rows
from tests.servers import serve_env, start_server

pytestmark = pytest.mark.slow

REQUESTS = 10_000
IN_FLIGHT = 64

# Human browsers and in-app browsers, as they come from social bios (no bots: every one counts).
USER_AGENTS = (
    "Mozilla/5.0 (Linux; Android 13; SM-S908B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 Instagram "
    "301.0.0.33.110 Android (33/13; 480dpi; 1080x2088; samsung; SM-S908B; b0q; qcom; en_GB; "
    "517986703)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 297.0.0.18.109 (iPhone14,5; iOS 16_6; en_US; en; "
    "scale=3.00; 1170x2532; 510468404)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/442.0.0.44.109;FBBV/546137463;FBDV/iPhone15,2;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]",
    "Mozilla/5.0 (Linux; Android 12; SM-G973F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/110.0.5481.153 Mobile Safari/537.36 "
    "musical_ly_2022903030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly "
    "app_version/29.3.3 ByteLocale/en ByteFullLocale/en Region/US AppId/1233",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_30.8.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
)
REFERERS = ("", "https://l.instagram.com/", "https://t.co/abc", "https://www.youtube.com/", "")


async def _visitor(port: int, jobs: list[tuple[str, str]], statuses: Counter[int]) -> None:
    """One keep-alive connection sending GET /@demo requests one after another."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while jobs:
            user_agent, referer = jobs.pop()
            referer_line = f"Referer: {referer}\r\n" if referer else ""
            writer.write(
                f"GET /@demo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {user_agent}\r\n"
                f"{referer_line}Accept: text/html\r\n\r\n".encode("latin-1")
            )
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            statuses[status] += 1
    finally:
        writer.close()


def _jobs() -> list[tuple[str, str]]:
    return [
        (USER_AGENTS[index % len(USER_AGENTS)], REFERERS[index % len(REFERERS)])
        for index in range(REQUESTS)
    ]


async def _visit_concurrently(port: int) -> Counter[int]:
    jobs = _jobs()
    statuses: Counter[int] = Counter()
    await asyncio.wait_for(
        asyncio.gather(*(_visitor(port, jobs, statuses) for _ in range(IN_FLIGHT))), timeout=120
    )
    return statuses


async def test_ten_thousand_concurrent_visits_are_each_written_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, empty_database_url)
    engine = create_engine(settings)
    try:
        await seed_demo_page(engine)
        env = serve_env(tmp_path, LEADLINK_DATABASE_URL=empty_database_url)
        server = await asyncio.to_thread(start_server, env, tmp_path / "serve.log")
        try:
            started = time.monotonic()
            statuses = await _visit_concurrently(server.port)
            elapsed = time.monotonic() - started
        finally:
            # Straight after the last answer: the writer still holds visits in its buffer.
            returncode = await asyncio.to_thread(server.stop, signal.SIGTERM, 30)
        output = server.output()

        assert statuses == {200: REQUESTS}, statuses
        assert returncode in {0, -signal.SIGTERM}, output[-3000:]
        assert "Application shutdown complete" in output
        assert "lost" not in output, output[-3000:]
        async with engine.connect() as connection:
            rows = await connection.execute(select(Visit.kind, func.count()).group_by(Visit.kind))
            kinds = dict(rows.all())
            distinct_refs = await connection.scalar(select(func.count(func.distinct(Visit.ref))))
            counts = await assert_rollups_equal_raw_rows(connection)
        assert kinds == {"visit": REQUESTS}
        assert distinct_refs == REQUESTS
        assert sum(visits for visits, _, _ in counts.values()) == REQUESTS
        # Every request came from 127.0.0.1: one unique visitor per User-Agent and source.
        visitors = {(ua, detect_source(None, {}, ua, referer).source) for ua, referer in _jobs()}
        assert sum(uniques for _, uniques, _ in counts.values()) == len(visitors)
        assert {source for _, _, _, source in counts} >= {"instagram", "tiktok", "facebook", "x"}
        assert elapsed < 60
    finally:
        await engine.dispose()
