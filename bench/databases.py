"""The databases a bench run measures on: a file under the run's directory for SQLite, a
throw-away database (created, then dropped with the run) on the PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bench.processes import HarnessError

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "POSTGRES_URL_ENV",
    "DatabaseKind",
    "PostgresUnavailableError",
    "bench_database",
    "postgres_database",
]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_ENV = "LEADLINK_BENCH_POSTGRES_URL"

DatabaseKind = Literal["sqlite", "postgresql"]


class PostgresUnavailableError(HarnessError):
    """The PostgreSQL server cannot be reached; that database is skipped, not failed."""


def _with_database(url: str, scheme: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


async def _execute_on_postgres(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throw-away database for one run, yield its SQLAlchemy URL, and drop it after."""
    server_url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    maintenance_dsn = _with_database(
        server_url, "postgresql", urlsplit(server_url).path.lstrip("/") or "postgres"
    )
    name = f"leadlink_bench_{secrets.token_hex(4)}"
    try:
        asyncio.run(_execute_on_postgres(maintenance_dsn, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = _without_credentials(server_url)
        raise PostgresUnavailableError(f"cannot create a database on {where}: {exc}") from exc
    try:
        yield _with_database(server_url, "postgresql+asyncpg", name)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        try:
            asyncio.run(_execute_on_postgres(maintenance_dsn, drop))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            # Do not hide the run's own outcome behind a clean-up failure.
            print(f"bench: could not drop database {name}: {exc}", file=sys.stderr)


@contextlib.contextmanager
def bench_database(kind: DatabaseKind, work_dir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work_dir / 'bench.db'}"
    else:
        with postgres_database() as url:
            yield url
