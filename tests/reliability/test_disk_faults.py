"""Fault 5: the SQLite file's disk full, and its filesystem read-only, under a running `leadlink
serve`.

The database lives on a small tmpfs mounted for the test (so we, as root, meet the limits a
service account would). Full: a filler file takes the last byte; opt-ins get a 503 page with
Retry-After, the one link keeps answering, nothing is half-written, and once the filler is
deleted everything succeeds again without a restart.

Read-only: a filesystem cannot be turned read-only under a process writing to it (the kernel
refuses), so the test does what a crash and a bad remount do: a process dies with the file
open, the filesystem is remounted read-only, and the server is started on it. The one link
answers, opt-ins get the 503 page, and once the filesystem is writable again they succeed
without a restart.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.databases import IN_CI
from tests.reliability.harness import (
    MAX_BUFFERED_VISITS,
    START_DEADLINE,
    OptInTally,
    Stored,
    VisitTally,
    aged_attribution_token,
    read_stored,
    record_figures,
    seed,
    server_env,
    tally_opt_ins,
    tally_visits,
    wait_for,
)
from tests.reliability.load import Load, OptInRecord
from tests.servers import RunningServer, start_server

pytestmark = pytest.mark.slow

# The seeded database takes 0.3 MB; the room left holds the visits of a long run (a 4 MB disk
# filled up with the visits written once the read-only one was writable again).
DISK_SIZE = "32m"
REFUSED = 5  # 503s to see while the fault lasts
RECOVERED = 10  # 303s to see once it is over
RECOVERY_LIMIT_SECONDS = 10.0


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs mounted at tmp_path/disk for the test, unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    result = _mount("-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(folder))
    if result.returncode != 0:
        problem = f"mounting a tmpfs needs root (or CAP_SYS_ADMIN): {result.stderr.strip()}"
        if IN_CI:
            pytest.fail(f"CI=true runs the disk faults: {problem}")
        pytest.skip(problem)
    try:
        yield folder
    finally:
        _unmount(folder)


def _unmount(folder: Path) -> None:
    """Unmount, waiting a little for files the test's processes had open to be closed; a mount
    that stays is an error of the test, not left behind quietly."""
    for _ in range(20):
        if not os.path.ismount(folder):
            return
        if subprocess.run(["umount", str(folder)], check=False, timeout=30).returncode == 0:
            return
        time.sleep(0.5)
    subprocess.run(["umount", "--lazy", str(folder)], check=False, timeout=30)
    assert not os.path.ismount(folder), f"{folder} is still mounted"


def _fill(folder: Path) -> int:
    """Write a filler file until the filesystem is full; returns its size."""
    size = 0
    with (folder / "filler").open("wb", buffering=0) as filler:
        for chunk in (b"\0" * 65536, b"\0" * 512):  # big writes, then the last crumbs
            while True:
                try:
                    size += filler.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return size


def _refusals(records: list[OptInRecord], since: float) -> list[OptInRecord]:
    return [r for r in records if r.status != 303 and r.answered_at - r.seconds >= since]


@dataclass(frozen=True, slots=True)
class _Recovery:
    """What the load saw of a fault that ended at `back_at`: the opt-ins it refused, how soon
    opt-ins were accepted again, and the tallies of what was stored."""

    refused: list[OptInRecord]
    recovered_after: float
    last_refusal_after: float
    opt_ins: OptInTally
    visits: VisitTally

    def figures(self, back: str) -> dict[str, object]:
        return {
            f"first 303 after {back} (s)": f"{self.recovered_after:.2f}",
            f"last refusal after {back} (s)": f"{max(0.0, self.last_refusal_after):.2f}",
            "opt-ins acknowledged / stored": self.opt_ins.acknowledged_vs_stored,
            "visits answered / stored": f"{self.visits.answered} / {self.visits.stored}",
        }

    def check(self, load: Load, *, clicks_during_fault: int, log: str) -> None:
        """Refused with the 503 page, clicks answered throughout, recovered by itself in time,
        every acknowledged opt-in stored once, visits lost only past the buffer's size."""
        assert {r.status for r in self.refused} == {503}
        assert {r.retry_after for r in self.refused} == {"5"}
        assert all(r.content_type.startswith("text/html") for r in self.refused)
        assert set(load.click_statuses()) == {200}, load.click_statuses()
        assert self.recovered_after < RECOVERY_LIMIT_SECONDS, log[-3000:]
        assert self.opt_ins.held, self.opt_ins
        lost_allowed = max(0, clicks_during_fault - MAX_BUFFERED_VISITS)
        assert self.visits.lost <= lost_allowed, (self.visits, log[-3000:])
        assert self.visits.duplicates == 0, self.visits


def _recovery(load: Load, stored: Stored, refused: list[OptInRecord], back_at: float) -> _Recovery:
    recovered_at = min(
        r.answered_at for r in load.opt_ins if r.status == 303 and r.answered_at > back_at
    )
    last_refusal = max((r.answered_at for r in refused), default=back_at)
    return _Recovery(
        refused,
        recovered_at - back_at,
        last_refusal - back_at,
        tally_opt_ins(load, stored),
        tally_visits(load, stored),
    )


def _crash_with_the_file_open(database: Path) -> None:
    """A process that dies (`os._exit`) with the database open, as a killed server does."""
    code = (
        "import os, sqlite3, sys; connection = sqlite3.connect(sys.argv[1]); "
        "connection.execute('SELECT count(*) FROM leads').fetchall(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(database)], check=True, timeout=60)
    assert database.with_name(database.name + "-shm").exists()


async def _start(env: dict[str, str], log: Path, port: int | None = None) -> RunningServer:
    return await asyncio.to_thread(start_server, env, log, port=port, timeout=START_DEADLINE)


async def test_a_full_disk_refuses_opt_ins_and_recovers_by_itself(
    small_disk: Path, tmp_path: Path, artifacts_dir: Path
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'leadlink.db'}"
    await seed(url, tmp_path)
    server = await _start(server_env(tmp_path, url), tmp_path / "serve.log")
    token = await aged_attribution_token(server.port)
    load = Load(server.port, token, email_prefix="full", opt_ins_in_flight=4, clicks_in_flight=8)
    load.start()
    try:
        await wait_for(lambda: load.acknowledged_opt_ins >= 10, within=60, what="opt-ins")
        full_at = time.monotonic()
        clicks_before = load.answered_clicks
        filler = await asyncio.to_thread(_fill, small_disk)
        await wait_for(
            lambda: len(_refusals(load.opt_ins, full_at)) >= REFUSED,
            within=60,
            what=f"{REFUSED} opt-ins refused on a full disk",
        )
        clicks_while_full = load.answered_clicks - clicks_before
        freed_at = time.monotonic()
        (small_disk / "filler").unlink()
        acknowledged = load.acknowledged_opt_ins
        await wait_for(
            lambda: load.acknowledged_opt_ins >= acknowledged + RECOVERED,
            within=60,
            what="opt-ins accepted once space returned",
        )
    finally:
        await load.stop()
        await asyncio.to_thread(server.stop, signal.SIGTERM, 30)
    recovery = _recovery(
        load, await read_stored(url, tmp_path), _refusals(load.opt_ins, full_at), freed_at
    )
    log = server.output()
    record_figures(
        artifacts_dir,
        "disk-full",
        {
            "filler written (KB)": filler // 1024,
            "opt-ins refused while full": len(recovery.refused),
            "clicks answered (200) while full": clicks_while_full,
            **recovery.figures("space returned"),
        },
    )

    recovery.check(load, clicks_during_fault=clicks_while_full, log=log)
    assert "database unavailable: OperationalError: database or disk is full" in log, log[-3000:]


async def test_a_read_only_database_refuses_opt_ins_and_recovers_by_itself(
    small_disk: Path, tmp_path: Path, artifacts_dir: Path
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'leadlink.db'}"
    await seed(url, tmp_path)
    env = server_env(tmp_path, url)
    # The server that had the file open crashed: SQLite's write-ahead log and its index stay
    # beside the file (a reader on a read-only filesystem needs them); then the filesystem
    # comes back read-only, and the server is started on it.
    await asyncio.to_thread(_crash_with_the_file_open, small_disk / "leadlink.db")
    remount = _mount("-o", "remount,ro", str(small_disk))
    assert remount.returncode == 0, remount.stderr
    try:
        server = await _start(env, tmp_path / "serve.log")
        try:
            load = Load(
                server.port,
                await aged_attribution_token(server.port),
                email_prefix="read-only",
                opt_ins_in_flight=4,
                clicks_in_flight=8,
            )
            load.start()
            try:
                await wait_for(
                    lambda: len(_refusals(load.opt_ins, load.started_at)) >= REFUSED,
                    within=60,
                    what=f"{REFUSED} opt-ins refused on a read-only filesystem",
                )
                writable_at = time.monotonic()
                clicks_while_read_only = load.answered_clicks
                remount = _mount("-o", "remount,rw", str(small_disk))
                assert remount.returncode == 0, remount.stderr
                acknowledged = load.acknowledged_opt_ins
                await wait_for(
                    lambda: load.acknowledged_opt_ins >= acknowledged + RECOVERED,
                    within=60,
                    what="opt-ins accepted once the filesystem was writable",
                )
            finally:
                await load.stop()
        finally:
            await asyncio.to_thread(server.stop, signal.SIGTERM, 30)
    finally:
        _mount("-o", "remount,rw", str(small_disk))  # for the unmount, whatever happened
    refused = [r for r in load.opt_ins if r.status != 303]
    recovery = _recovery(load, await read_stored(url, tmp_path), refused, writable_at)
    log = server.output()
    record_figures(
        artifacts_dir,
        "read-only",
        {
            "opt-ins refused while read-only": len(refused),
            "clicks answered (all 200)": load.answered_clicks,
            **recovery.figures("the remount"),
        },
    )

    recovery.check(load, clicks_during_fault=clicks_while_read_only, log=log)
    assert log.count("the SQLite database is read-only") == 1, log[-3000:]
    assert "attempt to write a readonly database" in log
