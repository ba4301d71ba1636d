"""Migrations are the only way to the schema: reversible, and in step with the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from app import migrations, models
from tests.databases import BACKENDS, FreshDatabases


def _tables(connection: Connection) -> set[str]:
    """The tables of the models: without Alembic's own and the partitions of `visits`."""
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name for name in names if not migrations.is_runtime_table(name)}


def _diff(connection: Connection) -> list[object]:
    options = migrations.comparison_options(connection.dialect.name)
    context = MigrationContext.configure(connection, opts={"compare_type": True, **options})
    return list(compare_metadata(context, models.Base.metadata))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_upgrade_downgrade_upgrade(
    backend: str, tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    database, cleanup = await fresh_databases.open(backend, tmp_path, migrate=False)
    try:
        engine = database.engine
        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set(models.Base.metadata.tables)
            assert await migrations.is_at_head(connection)

        await migrations.downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set()
            assert await migrations.current_revision(connection) is None

        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set(models.Base.metadata.tables)
            assert await migrations.is_at_head(connection)
    finally:
        await cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_models_agree_with_migrations(
    backend: str, tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    database, cleanup = await fresh_databases.open(backend, tmp_path)
    try:
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await cleanup()


def test_revision_files_are_dated_and_form_one_line() -> None:
    versions = (
        Path(migrations.alembic_config().get_main_option("script_location") or "") / "versions"
    )
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names, "no migrations found"
    for name in names:
        assert name[:10].replace("_", "").isdigit(), f"{name} does not start with a date"
    assert migrations.head_revision() == names[-1].removesuffix(".py")[:15]
