"""A real Chromium on a phone-sized screen signs in to a real `leadlink serve` and reads the
report: the table and the SVG charts are visible, the page fits the screen, nothing is fetched
from elsewhere and nothing is blocked by the CSP. The screenshot is left in test-artifacts/.

Without Chromium at /usr/bin/chromium the test is skipped with one line; with CI=true it fails.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db import Database, create_engine
from app.demo import DEMO_OWNER_EMAIL
from tests.databases import IN_CI, make_settings
from tests.factories import DayNumbers, seed_handle, seed_numbers
from tests.servers import free_port, running_server, serve_env

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
SOURCES = {"instagram": 0.9, "tiktok": 1.4, "youtube": 0.5, "x": 0.3, "email": 0.2, "direct": 0.4}


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    password: str


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if IN_CI:
        pytest.fail(f"CI=true needs the browser test: {message}")
    pytest.skip(f"browser test skipped: {message}; with CI=true this is a failure")


async def _seed_three_weeks(database_url: str, tmp_path: Path) -> None:
    """Plausible numbers for a second handle, ending today (the report's default range)."""
    settings = make_settings(tmp_path, database_url)
    database = Database(create_engine(settings))
    rng = random.Random(6)
    today = datetime.now(UTC).date()
    numbers = []
    for back in range(21):
        day = today - timedelta(days=back)
        for source, weight in SOURCES.items():
            visits = int(rng.randint(20, 90) * weight)
            leads = rng.randint(0, max(1, visits // 12))
            confirmed = rng.randint(0, leads)
            numbers.append(
                DayNumbers(
                    day,
                    source,
                    visits=visits,
                    leads=leads,
                    confirmed=confirmed,
                    customers=rng.randint(0, confirmed // 2) if confirmed else 0,
                    likes=int(rng.randint(300, 1500) * weight)
                    if source in {"instagram", "tiktok", "youtube", "x"}
                    else None,
                )
            )
    try:
        async with database.session() as session:
            handle, page_id = await seed_handle(session, "anna")
            await seed_numbers(session, handle, page_id, numbers)
            await session.commit()
    finally:
        await database.dispose()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    _require_chromium()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(tmp_path, LEADLINK_BASE_URL=base_url)
    # `migrate` and `demo` run in-process (a subprocess costs seconds); `serve` is the real one.
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    demo = runner.invoke(cli, ["demo"])
    assert demo.exit_code == 0, demo.output
    password = re.search(r"admin password (\S+)", demo.stdout)
    assert password, demo.stdout
    asyncio.run(_seed_three_weeks(env["LEADLINK_DATABASE_URL"], tmp_path))
    with running_server(env, tmp_path / "serve.log", port=port):
        yield Server(base_url, password.group(1))


async def test_an_owner_reads_the_report_on_a_phone(
    demo_server: Server, artifacts_dir: Path
) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only when Chromium is there

    base = demo_server.base_url
    requested: list[str] = []
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                viewport=PHONE,
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                java_script_enabled=False,
            )
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )

            await page.goto(base + "/admin/report")
            assert page.url == base + "/admin/login"  # not signed in yet: sent to the form
            await page.screenshot(path=str(artifacts_dir / "admin-login.png"))
            await page.get_by_label("Email").fill(DEMO_OWNER_EMAIL)
            await page.get_by_label("Password").fill(demo_server.password)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(base + "/admin")
            await page.goto(base + "/admin/report")

            await page.get_by_role("heading", name="Likes to leads").wait_for()
            table = page.get_by_role("table").first
            assert await table.is_visible()
            assert await page.get_by_role("rowheader", name="instagram").first.is_visible()
            assert await page.get_by_role("rowheader", name="All sources").is_visible()

            charts = page.locator("svg.chart")
            assert await charts.count() >= 5  # funnels, leads per day, like-to-lead
            for index in range(await charts.count()):
                chart = charts.nth(index)
                await chart.scroll_into_view_if_needed()
                assert await chart.is_visible()
                box = await chart.bounding_box()
                assert box is not None
                assert 300 <= box["width"] <= PHONE["width"], box  # full width, never wider
            leads_chart = page.get_by_role("img", name="Leads per day, stacked by source")
            assert await leads_chart.locator("rect.segment").count() > 20

            # The page fits the phone: only the table scrolls sideways, inside its own box.
            page_width = await page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= PHONE["width"]

            await page.screenshot(path=str(artifacts_dir / "admin-report.png"), full_page=True)
            # The per-source table stacks into cards: no column is cut, nothing scrolls.
            table_box = await table.bounding_box()
            assert table_box is not None
            assert table_box["width"] <= PHONE["width"]

            for path, heading in (("/admin/likes", "Likes"), ("/admin/emails", "Emails")):
                await page.goto(base + path)
                await page.get_by_role("heading", name=heading, exact=True).wait_for()
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
                name = path.rsplit("/", 1)[1]
                await page.screenshot(path=str(artifacts_dir / f"admin-{name}.png"), full_page=True)

            await page.get_by_role("button", name="Sign out").click()
            await page.wait_for_url(base + "/admin/login")
            await page.goto(base + "/admin/report")
            assert page.url == base + "/admin/login"
        finally:
            await browser.close()

    assert requested, "the browser made no requests"
    assert all(url.startswith(base + "/") for url in requested), requested
    assert problems == []  # a CSP violation or a broken resource would be logged here
