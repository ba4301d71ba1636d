"""`leadlink worker` as a person runs it: delivers what is queued, prints the confirmation link
with the development backend, and stops cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

from app import migrations
from app.db import Database, create_engine
from tests.cli_runner import cli_settings, run_worker_until
from tests.delivery.outbox_helpers import enqueue_ping, load
from tests.servers import serve_env


async def test_worker_command_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    engine = create_engine(cli_settings(env))
    database = Database(engine)
    try:
        await migrations.upgrade(engine)
        message_id = await enqueue_ping(database, link="http://127.0.0.1:8000/c/cli-token")

        async def delivered() -> bool:
            return (await load(database, message_id)).status == "sent"

        returncode, stderr = await run_worker_until(
            env, delivered, within=20, doing="deliver", stop_within=15
        )
    finally:
        await database.dispose()

    assert returncode == 0, stderr
    assert "outbox worker started; email goes to the admin outbox" in stderr
    assert f"read it at /admin/emails/{message_id}" in stderr
    assert "cli-token" not in stderr  # no link (nor address) of a message in the log
    assert "outbox worker stopped" in stderr
    assert "Traceback" not in stderr
