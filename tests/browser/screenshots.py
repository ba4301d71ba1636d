"""The README's screenshots, taken from a fresh demo in a real Chromium at 1280 x 800:
docs/images/dashboard.png (the one link and its QR code), page-editor.png (the editor with its
live preview) and leads.png (the leads table).

    make screenshots        # or: .venv/bin/python -m tests.browser.screenshots

It starts its own `leadlink serve` on a free port with a throwaway database (nothing under
./var is touched), signs in as an admin and fails with the address when a page is missing.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tests.browser.harness import (
    CHROMIUM,
    DESKTOP,
    Instance,
    chromium,
    demo_instance,
    new_context,
    screenshot,
    sign_in,
)
from tests.servers import REPO_ROOT

if TYPE_CHECKING:
    from playwright.async_api import Page

IMAGES = REPO_ROOT / "docs" / "images"
# The editor of a page: /admin/pages/{page_id} or /admin/pages/{page_id}/edit.
EDITOR_PATH = re.compile(r"^/admin/pages/\d+(/edit)?$")


async def _open(page: Page, instance: Instance, path: str) -> None:
    response = await page.goto(instance.url(path))
    status = response.status if response else 0
    if status != 200 or urlsplit(page.url).path != urlsplit(path).path:
        raise SystemExit(f"{path} answered {status} at {page.url}: is its section merged?")
    await page.wait_for_load_state("networkidle")  # the preview frame, the QR images


async def _editor_path(page: Page, instance: Instance) -> str:
    await _open(page, instance, "/admin/pages")
    hrefs: list[str] = await page.locator("main a[href]").evaluate_all(
        "links => links.map((link) => link.getAttribute('href'))"
    )
    for href in hrefs:
        if EDITOR_PATH.match(urlsplit(href).path):
            return href
    raise SystemExit("/admin/pages links to no page editor (/admin/pages/{id}[/edit])")


async def take_screenshots(instance: Instance, directory: Path = IMAGES) -> list[Path]:
    async with chromium() as browser:
        context = await new_context(browser, viewport=DESKTOP, color_scheme="light")
        page = await context.new_page()
        await sign_in(page, instance)
        taken = []
        await _open(page, instance, "/admin")
        taken.append(await screenshot(page, "dashboard", full_page=False, directory=directory))
        await _open(page, instance, await _editor_path(page, instance))
        taken.append(await screenshot(page, "page-editor", full_page=False, directory=directory))
        await _open(page, instance, "/admin/leads")
        taken.append(await screenshot(page, "leads", full_page=False, directory=directory))
        await context.close()
        return taken


def main() -> None:
    if not CHROMIUM.exists():
        sys.exit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with (
        tempfile.TemporaryDirectory(prefix="leadlink-screenshots-") as data_dir,
        demo_instance(Path(data_dir)) as instance,
    ):
        for path in asyncio.run(take_screenshots(instance)):
            print(path.relative_to(REPO_ROOT))


if __name__ == "__main__":
    main()
