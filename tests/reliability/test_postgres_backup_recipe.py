"""The PostgreSQL recipe of docs/backups.md, run as written: `pg_dump --format=custom` of a
database with a page, its uploaded gift file and leads, then `pg_restore --exit-on-error` into a
new, empty database, which then holds the same leads, the same file byte for byte and the same
schema revision."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db import create_engine
from app.leads.models import Lead
from app.links import service as links
from app.pages import service as pages
from app.pages.models import StoredFileChunk
from tests.databases import IN_CI, FreshDatabases, make_settings
from tests.factories import add_lead

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow]

GIFT = b"%PDF-1.7\n" + hashlib.sha256(b"recipe").digest() * 40_000  # 1.3 MB: six chunks


def _libpq(url: str) -> str:
    """The URL without SQLAlchemy's driver name, as the docs say: what pg_dump takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (command, result.stderr)


async def _contents(engine: AsyncEngine) -> tuple[int, str, bytes, object]:
    async with AsyncSession(engine) as session:
        leads = await session.scalar(select(func.count()).select_from(Lead))
        revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
        chunks = await session.scalars(select(StoredFileChunk.data).order_by(StoredFileChunk.seq))
        triggers = await session.scalar(
            text("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'leads'::regclass")
        )
        return int(leads or 0), str(revision), b"".join(chunks), triggers


async def _seed(settings: Settings, engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        handle = await links.create_handle(session, "anna")
        name = await pages.store_gift_file(session, settings, GIFT, "guide.pdf")
        page = await pages.create_page(session, handle, slug="guide", title="Guide")
        page.gift_kind, page.gift_value, page.gift_file_name = "file", name, "guide.pdf"
        for number in range(25):
            await add_lead(session, page, f"reader-{number}@example.com")
        await session.commit()


async def test_pg_dump_and_pg_restore_bring_everything_back(
    fresh_databases: FreshDatabases, tmp_path: Path
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        if IN_CI:
            pytest.fail("CI needs pg_dump and pg_restore (postgresql-client)")
        pytest.skip("pg_dump and pg_restore are not installed (postgresql-client)")
    live_url = await fresh_databases.create_postgres_database(migrated=True)
    restored_url = await fresh_databases.create_postgres_database(migrated=False)
    settings = make_settings(tmp_path, live_url)
    live, restored = create_engine(settings), create_engine(make_settings(tmp_path, restored_url))
    dump = tmp_path / "leadlink.dump"
    try:
        await _seed(settings, live)
        _run("pg_dump", "--format=custom", "--no-owner", f"--dbname={_libpq(live_url)}",
             f"--file={dump}")  # fmt: skip
        _run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(restored_url)}",
             str(dump))  # fmt: skip
        before, after = await _contents(live), await _contents(restored)
        assert after == before
        leads, _revision, gift, triggers = after
        assert (leads, gift) == (25, GIFT)
        assert triggers  # the report rollups' triggers came along
    finally:
        await live.dispose()
        await restored.dispose()
        await fresh_databases.drop_postgres_database(live_url)
        await fresh_databases.drop_postgres_database(restored_url)
