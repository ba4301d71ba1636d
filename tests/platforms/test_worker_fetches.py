"""`leadlink worker` fetches a due platform connection by itself (the poller runs beside the
outbox), and its log never shows the API key that travels in YouTube's query string."""

from __future__ import annotations

import json
from pathlib import Path

from app import migrations
from app.connections import service as connections
from app.connections.models import Connection
from app.db import Database, create_engine
from app.platforms import setup
from app.reports.models import SocialMetric
from tests.cli_runner import cli_settings, run_worker_until
from tests.factories import add_handle
from tests.platforms.contract_servers import API_KEY, YouTubeState
from tests.platforms.platform_helpers import YOUTUBE_FORM, ServedContract
from tests.servers import serve_env

WAIT_SECONDS = 30


async def test_the_worker_fetches_a_new_connection_and_logs_no_key(
    tmp_path: Path, youtube: ServedContract[YouTubeState]
) -> None:
    youtube.state.videos = {"v1": 12}
    env = serve_env(tmp_path, LEADLINK_PROVIDER_API_URLS=json.dumps({"youtube": youtube.url}))
    settings = cli_settings(env)
    engine = create_engine(settings)
    database = Database(engine)
    try:
        await migrations.upgrade(engine)
        async with database.session() as session:
            handle = await add_handle(session, "anna")
            connection = await setup.create_platform_connection(
                session,
                provider="youtube",
                label="channel",
                handle_ids=frozenset({handle.id}),
                form=YOUTUBE_FORM,
                created_by=None,
                cipher=connections.cipher_of(settings),
            )
            connection_id, handle_id = connection.id, handle.id
            await session.commit()

        async def fetched() -> bool:
            async with database.session(write=False) as session:
                connection = await session.get(Connection, connection_id)
                assert connection is not None
                return connection.last_polled_at is not None

        returncode, stderr = await run_worker_until(
            env, fetched, within=WAIT_SECONDS, doing="fetch"
        )
        async with database.session(write=False) as session:
            metric = await session.scalar(
                SocialMetric.__table__.select().where(SocialMetric.handle_id == handle_id)
            )
            assert metric is not None  # the first day: followers known
    finally:
        await database.dispose()

    assert returncode == 0, stderr
    assert API_KEY not in stderr
    assert "key=" not in stderr
    assert "Traceback" not in stderr
