"""The served app freezes what is alive after startup, so full garbage collections stop walking
the modules and models on the request path; an app built for tests leaves the collector alone."""

from __future__ import annotations

import gc
from pathlib import Path

from app.main import create_app
from tests.databases import DatabaseUnderTest, make_settings


async def test_only_the_served_app_freezes_its_heap(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database.settings.effective_database_url)
    gc.unfreeze()
    try:
        plain = create_app(settings)
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0

        served = create_app(settings, freeze_heap=True)
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 10_000, "the app's objects are frozen"
    finally:
        gc.unfreeze()
