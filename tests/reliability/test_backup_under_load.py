"""`leadlink backup` while a real `leadlink serve` takes opt-ins from 8 clients at once, then
`leadlink restore` into a fresh data directory: every opt-in whose 303 arrived before the backup
began is in the restored database, which passes SQLite's integrity check and serves. The opt-ins
during the backup all succeed. A restore is refused over a database with data (without
--force) and, even with --force, while a server has it open.

The figures (opt-ins acknowledged before the backup, found after the restore, the backup's
duration) are printed; `pytest -s` shows them."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from app.db import create_engine
from app.links.attribution import ATTRIBUTION_PURPOSE
from app.signing import Signer
from tests.cli_runner import run_leadlink
from tests.databases import make_settings
from tests.factories import seed_demo_page
from tests.servers import (
    LEADLINK,
    REPO_ROOT,
    RawConnection,
    running_server,
    serve_env,
    start_server,
)

pytestmark = pytest.mark.slow

SECRET = "backup-under-load-secret-key-0123456789abc"
CLIENTS = 8
LOAD_BEFORE_BACKUP = 300  # opt-ins acknowledged before the backup starts
LOAD_AFTER_BACKUP = 100  # and after it ends, so the backup ran under load throughout
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')


@dataclass
class Load:
    """Opt-ins sent by the clients: each address with the moment its 303 arrived."""

    acknowledged: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0


def _aged_token(base_url: str) -> str:
    """The page's signed attribution field, dated 5 s ago as if a person had read the page."""
    page = httpx.get(f"{base_url}/@demo", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    found = TOKEN_FIELD.search(page.text)
    assert found is not None, page.text[:500]
    signer = Signer(SECRET, ATTRIBUTION_PURPOSE)
    values, issued = signer.unsign_fields(found.group(1))
    return signer.sign_fields(values, now=issued - 5)


async def _client(port: int, token: str, load: Load) -> None:
    connection = RawConnection(port)
    try:
        while not load.stop.is_set():
            load.sent += 1
            email = f"reader-{load.sent}@example.com"
            form = urlencode({"a": token, "email": email, "consent": "yes"})
            status, _, _ = await connection.request(
                "POST",
                "/p/demo",
                body=form.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            load.statuses[status] += 1
            if status == 303:
                load.acknowledged[email] = time.monotonic()
    finally:
        await connection.close()


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.01)


def _serves(base_url: str) -> None:
    """The server is ready, shows the page and takes an opt-in."""
    assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{base_url}/@demo", timeout=10).status_code == 200
    form = {"a": _aged_token(base_url), "email": "after@example.com", "consent": "yes"}
    assert httpx.post(f"{base_url}/p/demo", data=form, timeout=10).status_code == 303


async def _backup(env: dict[str, str], target: Path) -> tuple[float, float, str]:
    """`leadlink backup TARGET` as a real process: when it began, how long it took, its output."""
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        str(LEADLINK),
        "backup",
        str(target),
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    return began, time.monotonic() - began, output.decode()


def _restored_emails(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {row[0] for row in db.execute("SELECT email FROM leads")}


async def test_a_backup_under_load_holds_every_acknowledged_opt_in(tmp_path: Path) -> None:
    live_dir, fresh_dir = tmp_path / "live", tmp_path / "fresh"
    live_env = serve_env(
        live_dir,
        LEADLINK_SECRET_KEY=SECRET,
        LEADLINK_OPTIN_RATE_PER_IP="1000000/minute",
        LEADLINK_OUTBOX_IN_PROCESS="false",
    )
    engine = create_engine(make_settings(live_dir, live_env["LEADLINK_DATABASE_URL"]))
    try:
        await seed_demo_page(engine)
    finally:
        await engine.dispose()
    server = await asyncio.to_thread(start_server, live_env, tmp_path / "live.log")
    backup_file = tmp_path / "backups" / "leadlink.db"
    load = Load()
    try:
        token = await asyncio.to_thread(_aged_token, server.base_url)
        clients = [asyncio.create_task(_client(server.port, token, load)) for _ in range(CLIENTS)]
        await _until(lambda: len(load.acknowledged) >= LOAD_BEFORE_BACKUP, 120, "first opt-ins")
        before = len(load.acknowledged)
        began, seconds, output = await _backup(live_env, backup_file)
        during = {e for e, at in load.acknowledged.items() if at >= began}
        target = len(load.acknowledged) + LOAD_AFTER_BACKUP
        await _until(lambda: len(load.acknowledged) >= target, 120, "opt-ins after the backup")
        load.stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
    finally:
        load.stop.set()
        await asyncio.to_thread(server.stop, signal.SIGTERM, 30)

    assert set(load.statuses) == {303}, load.statuses  # the backup refused no opt-in
    acked_before = {email for email, at in load.acknowledged.items() if at < began}
    assert len(acked_before) >= before

    fresh_env = serve_env(fresh_dir, LEADLINK_SECRET_KEY=SECRET)
    restored = await asyncio.to_thread(run_leadlink, "restore", str(backup_file), env=fresh_env)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    emails = _restored_emails(fresh_dir / "cli.db")
    missing = acked_before - emails
    print(
        f"\nbackup under load: {len(acked_before)} opt-ins acknowledged before the backup "
        f"began, {len(during)} during it ({seconds:.2f} s, the command's whole run); "
        f"{len(emails)} leads in the restored database, {len(missing)} acknowledged ones "
        f"missing; {len(load.acknowledged)} acknowledged in all\n{output.strip()}"
    )
    assert missing == set()
    assert emails <= set(load.acknowledged)  # nothing the server did not acknowledge

    # The restored database serves, and takes new opt-ins.
    with running_server(fresh_env, tmp_path / "fresh.log") as fresh:
        await asyncio.to_thread(_serves, fresh.base_url)
        # Never under a running server, not even with --force.
        forced = await asyncio.to_thread(
            run_leadlink, "restore", str(backup_file), "--force", env=fresh_env
        )
        assert forced.returncode == 1
        assert "is open in another process" in forced.stderr
    # Stopped: the database holds data, so only --force replaces it.
    refused = await asyncio.to_thread(run_leadlink, "restore", str(backup_file), env=fresh_env)
    assert refused.returncode == 1
    assert "holds data; pass --force" in refused.stderr
    assert "after@example.com" in _restored_emails(fresh_dir / "cli.db")
    forced = await asyncio.to_thread(
        run_leadlink, "restore", str(backup_file), "--force", env=fresh_env
    )
    assert forced.returncode == 0, forced.stderr
    assert "after@example.com" not in _restored_emails(fresh_dir / "cli.db")
