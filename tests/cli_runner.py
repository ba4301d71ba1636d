"""Run `leadlink` as a person would: in this process with Typer's `CliRunner` (fast), or as the
real console script in a subprocess where the process itself matters (serving, signals)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from typer.testing import CliRunner, Result

from app.cli import cli
from app.config import Settings, load_settings

LEADLINK = Path(sys.executable).parent / "leadlink"
REPO_ROOT = Path(__file__).resolve().parent.parent


def invoke_leadlink(*args: str, env: dict[str, str], stdin: str | None = None) -> Result:
    """`leadlink ARGS` in this process, with `env` as its whole environment. An exception the
    command does not turn into an exit status is raised here, as a traceback would show."""
    clean = {name: None for name in os.environ if name not in env}
    runner = CliRunner(env={**clean, **env})
    return runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)


def run_leadlink(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess: a second or more per call."""
    return subprocess.run(
        [str(LEADLINK), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_settings(env: dict[str, str]) -> Settings:
    """The settings the CLI reads from `env` (its data directory and database)."""
    return load_settings(
        data_dir=Path(env["LEADLINK_DATA_DIR"]), database_url=env["LEADLINK_DATABASE_URL"]
    )


def sqlite_rows(env: dict[str, str], query: str) -> list[tuple[object, ...]]:
    """Rows of the CLI's SQLite database, read directly."""
    path = env["LEADLINK_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


async def run_worker_until(
    env: dict[str, str],
    done: Callable[[], Awaitable[bool]],
    *,
    within: float,
    doing: str,
    stop_within: float = 20,
) -> tuple[int | None, str]:
    """The real `leadlink worker` in a subprocess until `done()` says what it was started for
    has happened (failing if the process ends first, or after `within` seconds: "the worker did
    not `doing`"), then stopped with SIGTERM as a service manager stops it. Returns its exit
    status and what it wrote to stderr (its log)."""
    process = await asyncio.create_subprocess_exec(
        str(LEADLINK),
        "worker",
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + within
        while not await done():
            assert process.returncode is None, await process.communicate()
            assert time.monotonic() < deadline, f"the worker did not {doing} within {within:g} s"
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, raw_stderr = await asyncio.wait_for(process.communicate(), timeout=stop_within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, raw_stderr.decode()
