"""Alembic environment: runs on the connection leadlink hands over, or on LEADLINK_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from app import migrations, models
from app.config import load_settings
from app.db import create_engine

target_metadata = models.Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
        **migrations.comparison_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(load_settings())
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("leadlink migrations run online only (leadlink migrate)")

given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_with_own_engine())
