"""Fixtures of the browser tests: one Chromium per session (per xdist worker) and one real
`leadlink serve` with the demo per module. The work is done in tests/browser/harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import Instance, chromium, demo_instance, require_chromium

if TYPE_CHECKING:
    from playwright.async_api import Browser


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with chromium() as started:
        yield started


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """The demo and an admin account on a fresh SQLite database, served for one module."""
    require_chromium()
    with demo_instance(tmp_path_factory.mktemp("browser")) as served:
        yield served
