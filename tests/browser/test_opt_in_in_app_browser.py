"""A real Chromium, sized and identified like Instagram's in-app browser on a phone, fills in the
demo's opt-in form on a real `leadlink serve` process. The screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS
from tests.databases import IN_CI
from tests.servers import free_port, running_server, serve_env

INSTAGRAM_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 Mobile Safari/537.36 "
    "Instagram 321.0.0.39.106 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8)"
)

if not CHROMIUM.exists():
    if IN_CI:
        pytest.fail("CI=true needs Chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip(
        "browser tests skipped: no Chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(tmp_path, LEADLINK_BASE_URL=base_url)
    # `migrate` and `demo` run in-process (a subprocess costs seconds); `serve` is the real one.
    runner = CliRunner(env=env)
    for command in ("migrate", "demo"):
        result = runner.invoke(cli, [command])
        assert result.exit_code == 0, result.output
    with running_server(env, tmp_path / "serve.log", port=port):
        yield base_url


async def test_instagram_visitor_opts_in_on_a_phone(server: str, artifacts_dir: Path) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only with Chromium

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            user_agent=INSTAGRAM_ANDROID,
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        page = await context.new_page()
        requests_elsewhere: list[str] = []
        page.on(
            "request",
            lambda request: (
                requests_elsewhere.append(request.url)
                if not request.url.startswith(server)
                else None
            ),
        )
        response = await page.goto(server + "/@demo")
        assert response is not None
        assert response.status == 200
        await page.screenshot(path=str(artifacts_dir / "opt-in-form-instagram.png"), full_page=True)

        await page.get_by_label("Email").fill("phone.user@example.com")
        await page.get_by_label("Send me the checklist", exact=False).check()
        await page.wait_for_timeout(2100)  # a human takes more than 2 s; faster is a bot
        await page.get_by_role("button").first.click()
        await page.wait_for_url("**/p/demo/thanks")
        heading = await page.locator("h1").inner_text()
        assert "inbox" in heading.lower()
        body = await page.locator("main").inner_text()
        assert "email" in body.lower()
        await page.screenshot(
            path=str(artifacts_dir / "opt-in-thanks-instagram.png"), full_page=True
        )
        await browser.close()
    assert requests_elsewhere == []
