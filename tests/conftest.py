"""Fixtures of the whole suite: every database test runs on each backend of the run (SQLite and
PostgreSQL; see tests/databases.py), on the migrated schema, inside a transaction rolled back
after the test. Shared functions and constants live in normal modules (tests/databases.py,
tests/factories.py, tests/servers.py), never here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.db import Database
from tests.apps import assert_shared_openapi_unchanged, build_app
from tests.databases import (
    BACKENDS,
    BACKENDS_ERROR,
    DatabaseUnderTest,
    FreshDatabases,
    make_settings,
)


def pytest_configure(config: pytest.Config) -> None:
    """A bad LEADLINK_TEST_BACKENDS is a usage error. An xdist worker inherits COLUMNS and LINES
    that GNU readline, loaded in the controller, exported at C level; a console made at import
    (the CLI's) would keep that width for good, so workers drop them: a test that needs a width
    sets COLUMNS itself, as in a single pytest process."""
    if BACKENDS_ERROR:
        raise pytest.UsageError(BACKENDS_ERROR)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist the `slow` tests go first, so that no worker is left with one at the end
    while the others idle. With LEADLINK_TEST_BACKENDS narrowed to SQLite, the PostgreSQL-only
    tests say why they are skipped."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
    if "postgresql" not in BACKENDS:
        skip = pytest.mark.skip(reason="LEADLINK_TEST_BACKENDS leaves PostgreSQL out of this run")
        for item in items:
            if item.get_closest_marker("postgresql_only"):
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def shared_openapi_stays_unchanged() -> Iterator[None]:
    """The apps of the run share one OpenAPI document (tests/apps.py): no test may change it."""
    yield
    assert_shared_openapi_unchanged()


@pytest.fixture(scope="session")
async def fresh_databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FreshDatabases]:
    """Makes brand-new migrated databases (copies of a template migrated once per backend)."""
    databases = FreshDatabases(tmp_path_factory.mktemp("templates"))
    yield databases
    await databases.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fresh_databases: FreshDatabases,
) -> AsyncIterator[DatabaseUnderTest]:
    """The migrated database of one backend, shared by the whole run (by one xdist worker)."""
    under_test, cleanup = await fresh_databases.open(
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
    application = build_app(settings, database=Database(connection, owns_engine=False))
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


@pytest.fixture(params=BACKENDS)
async def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[str]:
    """The URL of a brand-new, empty (unmigrated) database of each backend, for a real
    `leadlink serve` process (for PostgreSQL a real `CREATE DATABASE`, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
        return
    url = await fresh_databases.create_postgres_database(migrated=False)
    try:
        yield url
    finally:
        await fresh_databases.drop_postgres_database(url)
