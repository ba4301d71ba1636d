"""Alembic, driven from code: upgrade, downgrade, and whether a database is at the head revision.

Every function takes an async engine and hands Alembic the synchronous side of one connection,
so migrations run the same way from the CLI, the app's readiness check and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import PROJECT_ROOT

__all__ = [
    "alembic_config",
    "comparison_options",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_at_head",
    "is_known_revision",
    "is_runtime_table",
    "upgrade",
]

# The monthly partitions of `visits` on PostgreSQL and its DEFAULT partition: the migration makes
# the first ones and the worker the later ones (app.links.partitions), so no model declares them.
_RUNTIME_TABLE = re.compile(r"visits_(?:\d{4}_\d{2}|default)")


def is_runtime_table(name: str) -> bool:
    """Whether `name` is a table made at run time rather than by a model (a visits partition)."""
    return _RUNTIME_TABLE.fullmatch(name) is not None


def _dialects(names: str | Iterable[str]) -> set[str]:
    return {names} if isinstance(names, str) else set(names)


def comparison_options(dialect: str) -> dict[str, Any]:
    """Alembic's hooks for comparing the models with a database of `dialect` (autogenerate and
    the tests): tables made at run time are left out, and so are the constraints a model
    declares for another database only (`.ddl_if(dialect=…)`, which Alembic does not read)."""

    def include_name(name: str | None, type_: str, _parents: object) -> bool:
        return not (type_ == "table" and name is not None and is_runtime_table(name))

    def include_object(obj: Any, *_rest: object) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        return dialect in _dialects(condition.dialect)

    return {"include_name": include_name, "include_object": include_object}


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def is_known_revision(revision: str) -> bool:
    """Whether `revision` is one of this version's migrations (a database from a newer version,
    or from another application, has one it does not know)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(_current)


async def is_at_head(connection: AsyncConnection) -> bool:
    return await current_revision(connection) == head_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
