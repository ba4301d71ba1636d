"""Migrations are the only way to the schema: reversible, and in step with the models; the
visits table keeps every row through its conversion to monthly partitions and back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import migrations, models
from app.db import Database
from app.links import service as links
from app.links.models import Visit
from app.links.visits import VisitRecord, write_visits
from app.pages import service as pages
from tests.databases import BACKENDS, FreshDatabases
from tests.factories import make_visit


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


BEFORE_RETENTION = "2026_12_06_0011"


async def _visits(engine: AsyncEngine) -> dict[str, tuple[int, str]]:
    """ref → (id, day) of every visit row."""
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT ref, id, day FROM visits"))
        return {ref: (int(id_), str(day)) for ref, id_, day in rows}


async def _relations(engine: AsyncEngine) -> dict[str, str]:
    """PostgreSQL: the kind of `visits` and of every table named visits_… (partitions)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT relname, relkind::text FROM pg_class "
                "WHERE relkind IN ('r', 'p') AND relname ~ '^visits(_|$)'"
            )
        )
        return {str(name): str(kind) for name, kind in rows}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_visits_keep_every_row_through_the_retention_migration_and_back(
    backend: str, tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    under_test, cleanup = await fresh_databases.open(backend, tmp_path, migrate=False)
    engine = under_test.engine
    try:
        await migrations.upgrade(engine, BEFORE_RETENTION)
        database = Database(engine, owns_engine=False)
        async with database.session() as session:
            handle = await links.create_handle(session, "anna")
            page = await pages.create_page(session, handle, slug="anna-a", title="A")
            await pages.publish_page(session, page)
            route = await links.add_route(session, handle, page_slug="anna-a", variant="a")
            now = datetime.now(UTC)
            old = [
                make_visit(
                    handle.id, page.id, now - timedelta(days=days), ZoneInfo("UTC"),
                    route_id=route.id if days % 2 else None,
                )
                for days in range(0, 100, 7)
            ]  # fmt: skip
            old.append(
                make_visit(handle.id, None, datetime(2100, 5, 1, tzinfo=UTC), ZoneInfo("UTC"))
            )
            await session.execute(insert(Visit), [asdict(record) for record in old])
            await session.commit()
        before = await _visits(engine)

        await migrations.upgrade(engine)

        assert await _visits(engine) == before
        async with engine.connect() as connection:
            variants = await connection.execute(
                text("SELECT day, route_id, visits FROM variant_rollups")
            )
            assert sorted((str(day), route_id, n) for day, route_id, n in variants) == sorted(
                (record.day.isoformat(), route.id, 1) for record in old if record.route_id
            )
        if backend == "postgresql":
            kinds = await _relations(engine)
            assert kinds.pop("visits") == "p"
            assert kinds.pop("visits_default") == "r"
            oldest = min(record.day for record in old)
            first_month = f"visits_{oldest.year:04d}_{oldest.month:02d}"
            assert first_month in kinds
            assert all(migrations.is_runtime_table(name) for name in kinds)
        new = make_visit(handle.id, page.id, now, ZoneInfo("UTC"), route_id=route.id)
        await _write(database, new)
        after = await _visits(engine)
        assert after[new.ref][0] > max(id_ for id_, _ in before.values())  # the same sequence

        await migrations.downgrade(engine, BEFORE_RETENTION)

        assert await _visits(engine) == after
        if backend == "postgresql":
            assert await _relations(engine) == {"visits": "r"}  # no partition left behind
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert {"variant_rollups", "visit_prunes"}.isdisjoint(tables)

        await migrations.upgrade(engine)
        assert await _visits(engine) == after
    finally:
        await cleanup()


async def _write(database: Database, record: VisitRecord) -> None:
    async with database.session() as session:
        await write_visits(session, [record])
        await session.commit()


def test_only_the_partitions_of_visits_are_runtime_tables() -> None:
    assert migrations.is_runtime_table("visits_2026_12")
    assert migrations.is_runtime_table("visits_default")
    assert not migrations.is_runtime_table("visits")
    assert not migrations.is_runtime_table("visit_rollups")
    assert not migrations.is_runtime_table("visits_2026_12_extra")
