"""10,000 concurrent visits against a real `leadlink serve` process, then SIGTERM: every visit is
a row, exactly once, and the rollups equal the raw rows. On SQLite and on a real PostgreSQL
database created for the run.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import migrations
from app.db import create_engine
from app.links import service as links
from app.links.models import Visit
from app.links.sources import detect_source
from app.pages import service as pages
from tests.cli_runner import LEADLINK, REPO_ROOT, free_port, leadlink_env
from tests.conftest import IN_CI, POSTGRES_SKIP_REASON, POSTGRES_URL, make_settings
from tests.links.test_visit_writer import assert_rollups_equal_raw_rows

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


def _start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(LEADLINK), "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited early:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not come up within 30 s")


async def _seed(engine: AsyncEngine) -> None:
    """The schema and a handle `demo` with one published page, and nothing else (the demo seed
    may bring sample visits of its own).
    """
    await migrations.upgrade(engine)
    async with AsyncSession(engine) as session:
        handle = await links.create_handle(session, "demo")
        page = await pages.create_page(session, handle, slug="demo", title="Free checklist")
        await pages.publish_page(session, page)
        await session.commit()


async def _admin_connection(admin_dsn: str) -> Any:
    try:
        return await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"CI=true needs PostgreSQL at {POSTGRES_URL}: {exc}")
        pytest.skip(POSTGRES_SKIP_REASON)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A brand-new database of the backend (for PostgreSQL a real `CREATE DATABASE`)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
        return
    server = make_url(POSTGRES_URL)
    admin_dsn = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"leadlink_t_{uuid.uuid4().hex[:12]}"
    admin = await _admin_connection(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_ten_thousand_concurrent_visits_are_each_written_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url)
    engine = create_engine(settings)
    try:
        await _seed(engine)
        env = leadlink_env(tmp_path, LEADLINK_DATABASE_URL=database_url)
        port = free_port()
        log = tmp_path / "serve.log"
        process = await asyncio.to_thread(_start_server, env, port, log)
        try:
            started = time.monotonic()
            statuses = await _visit_concurrently(port)
            elapsed = time.monotonic() - started
        finally:
            # Straight after the last answer: the writer still holds visits in its buffer.
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(process.wait, 30)
        output = log.read_text()

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
