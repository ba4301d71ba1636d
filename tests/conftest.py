"""Test harness: every database test runs on SQLite and on PostgreSQL, on the migrated schema.

PostgreSQL is found at LEADLINK_TEST_POSTGRES_URL (default: the local server, database `test`);
each run works in a schema of its own, dropped at the end. Without a server the PostgreSQL half is
skipped with one line saying how to enable it; with CI=true it is mandatory and a missing server
fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app import migrations
from app.config import Settings, load_settings
from app.db import Database, create_engine
from app.main import create_app

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
BACKENDS = ["sqlite", "postgresql"]


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
    """One migrated database of a backend, plus how to make more fresh ones for this run."""

    def __init__(self, backend: str, settings: Settings, engine: AsyncEngine, schema_name: str):
        self.backend = backend
        self.settings = settings
        self.engine = engine
        self.schema_name = schema_name

    @property
    def connect_args(self) -> dict[str, Any]:
        if self.backend == "postgresql":
            return {"server_settings": {"search_path": self.schema_name}}
        return {}


async def _postgres_schema(admin_settings: Settings, name: str, *, create: bool) -> None:
    engine = create_engine(admin_settings)
    try:
        async with engine.begin() as connection:
            statement = f'CREATE SCHEMA "{name}"' if create else f'DROP SCHEMA "{name}" CASCADE'
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def open_fresh_database(
    backend: str, tmp_path: Path, *, migrate: bool = True
) -> tuple[DatabaseUnderTest, Any]:
    """A brand-new, optionally migrated database; returns it and an async cleanup callable."""
    if backend == "sqlite":
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        engine = create_engine(settings)
        under_test = DatabaseUnderTest(backend, settings, engine, "")

        async def cleanup_sqlite() -> None:
            await engine.dispose()

        if migrate:
            await migrations.upgrade(engine)
        return under_test, cleanup_sqlite

    settings = make_settings(tmp_path, POSTGRES_URL)
    schema_name = f"leadlink_test_{uuid.uuid4().hex[:12]}"
    try:
        await _postgres_schema(settings, schema_name, create=True)
    except (OSError, TimeoutError, Exception) as exc:
        if IN_CI:
            pytest.fail(f"CI=true needs PostgreSQL at {POSTGRES_URL}: {exc}")
        pytest.skip(POSTGRES_SKIP_REASON)
    engine = create_engine(settings, connect_args={"server_settings": {"search_path": schema_name}})
    under_test = DatabaseUnderTest(backend, settings, engine, schema_name)

    async def cleanup_postgres() -> None:
        await engine.dispose()
        await _postgres_schema(settings, schema_name, create=False)

    if migrate:
        await migrations.upgrade(engine)
    return under_test, cleanup_postgres


@pytest.fixture(scope="session", params=BACKENDS)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseUnderTest]:
    """The migrated database of one backend, shared by the whole run."""
    under_test, cleanup = await open_fresh_database(
        request.param, tmp_path_factory.mktemp(request.param)
    )
    yield under_test
    await cleanup()


@pytest.fixture
async def connection(database: DatabaseUnderTest) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session inside the test's transaction; its commits become savepoints."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        yield session


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, database.settings.effective_database_url)


@pytest.fixture
async def app(settings: Settings, connection: AsyncConnection) -> AsyncIterator[Any]:
    """The real app, its sessions joined to the test's rolled-back transaction."""
    application = create_app(settings, database=Database(connection, owns_engine=False))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files for people to look at (screenshots); kept after the run."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
