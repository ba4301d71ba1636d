"""Fixtures of the hostile-input suite: the seeded world of each backend (one per test module,
see world.py), a world on SQLite alone for cases that do not depend on the database, and the
per-case guard that rolls everything back and reads the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from app.users import service as users
from tests.databases import DatabaseUnderTest, FreshDatabases
from tests.hostile.world import World, open_world


@pytest.fixture(scope="module")
def cheap_hashing() -> Iterator[None]:
    """Sign-in cases hash with cheap argon2 parameters (the real ones cost ~0.2 s a hash)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "password_hasher", PasswordHasher(1, 1024, 1))
        yield


@pytest.fixture(scope="module")
async def world(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory, cheap_hashing: None
) -> AsyncIterator[World]:
    """The seeded world on each backend of the run."""
    async with open_world(database, tmp_path_factory.mktemp("hostile")) as seeded:
        yield seeded


@pytest.fixture(scope="module")
async def http_world(
    fresh_databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory, cheap_hashing: None
) -> AsyncIterator[World]:
    """The seeded world on SQLite only: for cases whose answer no database decides (a refused
    header, a path no route has), which need not run twice."""
    data_dir: Path = tmp_path_factory.mktemp("hostile-http")
    under_test, cleanup = await fresh_databases.open("sqlite", data_dir)
    try:
        async with open_world(under_test, data_dir) as seeded:
            yield seeded
    finally:
        await cleanup()
