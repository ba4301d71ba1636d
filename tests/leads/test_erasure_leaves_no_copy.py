"""After an erasure on the embedded SQLite database, no file of the database still holds the
person's address: not the main file, not its write-ahead log (until a checkpoint, every
committed change lives there too), not freed pages or the old bytes of a rewritten row."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from app import migrations
from app.db import Database, create_engine
from tests.apps import build_app
from tests.databases import make_settings
from tests.factories import add_handle, add_lead, add_page, bearer, issue_key

ADDRESS = "forget.me.please@example.com"
NAME = "Unforgettable Name"


def _files_holding(data_dir: Path, needle: str) -> list[str]:
    holding = []
    for path in sorted(data_dir.glob("leadlink.db*")):
        data = path.read_bytes()
        if needle.encode() in data or needle.encode("utf-16-le") in data:
            holding.append(path.name)
    return holding


async def test_erasure_by_api_leaves_the_address_in_no_database_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leadlink.db'}"
    settings = make_settings(tmp_path, url)
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    database = Database(engine)
    async with database.session() as session:
        handle = await add_handle(session, "anna")
        for slug in ("gift", "guide", "list"):  # several rows with the address
            page = await add_page(session, handle, slug)
            await add_lead(session, page, ADDRESS, name=NAME)
        key = await issue_key(session, ["leads:read", "leads:write"])
        await session.commit()
    await engine.dispose()
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            listed = await client.get("/api/v1/leads", headers=bearer(key))
            assert listed.status_code == 200
            assert _files_holding(tmp_path, ADDRESS)  # the test would see it if it were there
            erased = await client.post(
                "/api/v1/erasures", json={"email": ADDRESS}, headers=bearer(key)
            )
            assert erased.status_code == 200
            assert erased.json() == {"erased": 3}
            # While the server still runs: closing it would checkpoint anyway.
            assert _files_holding(tmp_path, ADDRESS) == []
            assert _files_holding(tmp_path, NAME) == []


async def test_database_errors_do_not_carry_addresses_into_logs(tmp_path: Path) -> None:
    # A failing statement's text reaches a log with its traceback (a worker's retry, a 500).
    url = f"sqlite+aiosqlite:///{tmp_path / 'leadlink.db'}"
    engine = create_engine(make_settings(tmp_path, url))
    await migrations.upgrade(engine)
    database = Database(engine)
    try:
        async with database.session() as session:
            page = await add_page(session, await add_handle(session, "anna"), "gift")
            await add_lead(session, page, ADDRESS)
            with pytest.raises(IntegrityError) as raised:
                await add_lead(session, page, ADDRESS)  # the same address twice on one page
    finally:
        await engine.dispose()
    assert ADDRESS not in str(raised.value)
    assert "INSERT INTO leads" in str(raised.value)  # still says what failed
