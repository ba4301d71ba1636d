"""`leadlink worker` as a person runs it: delivers what is queued, prints the confirmation link
with the development backend, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from app import migrations
from app.db import Database, create_engine
from tests.cli_runner import LEADLINK, REPO_ROOT, cli_settings
from tests.delivery.outbox_helpers import enqueue_ping, load
from tests.servers import serve_env


async def test_worker_command_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    engine = create_engine(cli_settings(env))
    database = Database(engine)
    try:
        await migrations.upgrade(engine)
        message_id = await enqueue_ping(database, link="http://127.0.0.1:8000/c/cli-token")
        process = await asyncio.create_subprocess_exec(
            str(LEADLINK),
            "worker",
            env=env,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            while (await load(database, message_id)).status != "sent":
                assert process.returncode is None, await process.communicate()
                assert time.monotonic() < deadline, "the worker did not deliver in 20 s"
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            _, raw_stderr = await asyncio.wait_for(process.communicate(), timeout=15)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        await database.dispose()

    stderr = raw_stderr.decode()
    assert process.returncode == 0, stderr
    assert "outbox worker started; email goes to the admin outbox" in stderr
    assert f"read it at /admin/emails/{message_id}" in stderr
    assert "cli-token" not in stderr  # no link (nor address) of a message in the log
    assert "outbox worker stopped" in stderr
    assert "Traceback" not in stderr
