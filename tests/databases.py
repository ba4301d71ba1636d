"""The databases of a test run: settings, the backends to run on, and brand-new migrated databases.

Every database test runs on SQLite and on PostgreSQL. PostgreSQL is found at
LEADLINK_TEST_POSTGRES_URL (default: the local server); each database the run needs is a real
`CREATE DATABASE` of its own, dropped at the end. Without a server the PostgreSQL half is skipped
with one line saying how to enable it; with CI=true it is mandatory and a missing server fails
the run. LEADLINK_TEST_BACKENDS=sqlite (comma-separated) narrows the run, for the edit loop.

Migrating costs a tenth of a second or more, so each backend is migrated once per run (per xdist
worker) into a template, and a fresh database is a copy of it: a file copy on SQLite,
`CREATE DATABASE … TEMPLATE …` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app import migrations
from app.config import Settings, load_settings
from app.db import Database, create_engine

__all__ = [
    "ALL_BACKENDS",
    "BACKENDS",
    "BACKENDS_ERROR",
    "IN_CI",
    "POSTGRES_SKIP_REASON",
    "POSTGRES_URL",
    "TEST_SECRET",
    "Cleanup",
    "DatabaseUnderTest",
    "FreshApp",
    "FreshDatabases",
    "make_settings",
]

POSTGRES_URL = os.environ.get(
    "LEADLINK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_SKIP_REASON = (
    "PostgreSQL suite skipped: no server at LEADLINK_TEST_POSTGRES_URL "
    f"({POSTGRES_URL}); start PostgreSQL there or point the variable at one "
    "(with CI=true this is a failure)"
)
TEST_SECRET = "test-secret-" + "x" * 40
ALL_BACKENDS = ("sqlite", "postgresql")


def _selected_backends() -> tuple[list[str], str | None]:
    """The backends LEADLINK_TEST_BACKENDS asks for, and what is wrong with the request."""
    raw = os.environ.get("LEADLINK_TEST_BACKENDS", "").strip()
    if not raw:
        return list(ALL_BACKENDS), None
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ALL_BACKENDS))
    if unknown:
        return [], f"LEADLINK_TEST_BACKENDS names unknown backends {unknown}; use {ALL_BACKENDS}"
    if IN_CI and set(chosen) != set(ALL_BACKENDS):
        return [], "CI=true runs every backend: unset LEADLINK_TEST_BACKENDS"
    return [name for name in ALL_BACKENDS if name in chosen], None


BACKENDS, BACKENDS_ERROR = _selected_backends()
"""The backends this run covers: both, unless LEADLINK_TEST_BACKENDS narrows it (never in CI);
conftest turns BACKENDS_ERROR into a usage error."""

Cleanup = Callable[[], Awaitable[None]]

FreshApp = Callable[
    ..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, "DatabaseUnderTest", Database]]
]
"""The `fresh_app` fixture of the API tests: `async with fresh_app(backend, tmp_path, **settings)
as (client, under_test, database)`, the app on a brand-new database of its own."""


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    # A background worker would share the test's connection with the test's own session;
    # tests deliver the outbox explicitly (`await app.state.outbox.drain()`) or opt in.
    overrides.setdefault("outbox_in_process", False)
    return load_settings(
        env="test",
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=TEST_SECRET,
        **overrides,
    )


class DatabaseUnderTest:
    """One database of a backend, its settings and an engine on it."""

    def __init__(self, backend: str, settings: Settings, engine: AsyncEngine):
        self.backend = backend
        self.settings = settings
        self.engine = engine


def _unique_name(kind: str) -> str:
    # Runs of other people (and other xdist workers) may share the server: never reuse a name.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"leadlink_{kind}_{worker}_{uuid.uuid4().hex[:10]}"


class FreshDatabases:
    """Makes brand-new databases for one run (one xdist worker), and drops what it made."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sqlite_template: Path | None = None
        self._postgres_template: str | None = None
        self._admin: Any = None  # an asyncpg connection to the server's `postgres` database
        self._lock = asyncio.Lock()

    async def open(
        self, backend: str, tmp_path: Path, *, migrate: bool = True
    ) -> tuple[DatabaseUnderTest, Cleanup]:
        """A brand-new database, migrated unless `migrate=False`; returns it and its cleanup."""
        if backend == "sqlite":
            path = tmp_path / "test.db"
            if migrate:
                shutil.copyfile(await self._sqlite_migrated(), path)
            settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{path}")
            engine = create_engine(settings)
            return DatabaseUnderTest(backend, settings, engine), engine.dispose

        url = await self.create_postgres_database(migrated=migrate)
        settings = make_settings(tmp_path, url)
        engine = create_engine(settings)

        async def cleanup() -> None:
            await engine.dispose()
            await self.drop_postgres_database(url)

        return DatabaseUnderTest(backend, settings, engine), cleanup

    async def create_postgres_database(self, *, migrated: bool = True) -> str:
        """`CREATE DATABASE` (a copy of the migrated template, or empty); returns its URL."""
        async with self._lock:
            template = await self._postgres_migrated() if migrated else "template0"
            name = _unique_name("t")
            await self._admin_connection()
            await self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    async def drop_postgres_database(self, url: str) -> None:
        name = make_url(url).database
        async with self._lock:
            await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def close(self) -> None:
        async with self._lock:
            if self._admin is None:
                return
            if self._postgres_template is not None:
                template = self._postgres_template
                await self._admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            await self._admin.close()
            self._admin = None

    async def _sqlite_migrated(self) -> Path:
        if self._sqlite_template is None:
            path = self.root / "sqlite-template.db"
            engine = create_engine(make_settings(self.root, f"sqlite+aiosqlite:///{path}"))
            try:
                await migrations.upgrade(engine)
            finally:
                await engine.dispose()  # the last connection checkpoints the WAL into the file
            self._sqlite_template = path
        return self._sqlite_template

    async def _postgres_migrated(self) -> str:
        """The migrated template (made on first use; the caller holds the lock)."""
        if self._postgres_template is None:
            await self._admin_connection()
            name = _unique_name("template")
            await self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "template0"')
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
            engine = create_engine(make_settings(self.root, url))
            try:
                await migrations.upgrade(engine)
            finally:
                await engine.dispose()  # a template must have no connections when copied
            self._postgres_template = name
        return self._postgres_template

    async def _admin_connection(self) -> None:
        if self._admin is not None:
            return
        server = make_url(POSTGRES_URL)
        admin_dsn = server.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        try:
            self._admin = await asyncpg.connect(admin_dsn, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            if IN_CI:
                pytest.fail(f"CI=true needs PostgreSQL at {POSTGRES_URL}: {exc}")
            pytest.skip(POSTGRES_SKIP_REASON)
