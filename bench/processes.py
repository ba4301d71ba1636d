"""The processes of a bench run: the servers under test (started, pinned to a core, always
stopped), one-off preparation commands, and the sampling of a server's resident memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HOST",
    "REPO_ROOT",
    "CorePinning",
    "HarnessError",
    "RssSampler",
    "RunningServer",
    "ServerError",
    "core_pinning",
    "free_port",
    "parse_vmrss_kib",
    "run_preparation",
    "running_server",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
PREPARATION_TIMEOUT_SECONDS = 300.0
STDERR_TAIL_LINES = 20
RSS_SAMPLE_SECONDS = 0.05


class HarnessError(Exception):
    """The benchmark could not be carried out (as opposed to a slow or failing server)."""


class ServerError(HarnessError):
    """A server, or a command preparing it, did not start or died during the run."""

    def __init__(self, what: str, reason: str, output_tail: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.output_tail = output_tail


@dataclass(frozen=True)
class CorePinning:
    """Command prefixes keeping the server and wrk on separate cores, so they do not compete."""

    server: tuple[str, ...]
    wrk: tuple[str, ...]


def core_pinning() -> CorePinning:
    # sched_getaffinity is Linux-only; elsewhere the run is simply not pinned.
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cores) < 2:
        return CorePinning((), ())
    return CorePinning(("taskset", "-c", str(cores[0])), ("taskset", "-c", str(cores[1])))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-STDERR_TAIL_LINES:])


def _wait_until_listening(
    name: str, process: subprocess.Popen[bytes], port: int, log: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(name, f"exited with status {process.returncode}", _tail(log))
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ServerError(name, f"not listening after {STARTUP_TIMEOUT_SECONDS:.0f} s", _tail(log))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it does not go in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class RunningServer:
    """A server that answers on `base_url`; `pid` is the serving process itself (`taskset`
    execs the command it pins, and one uvicorn worker serves in the process it starts in)."""

    base_url: str
    pid: int


@contextlib.contextmanager
def running_server(
    name: str, argv: Sequence[str], port: int, env: Mapping[str, str], log_dir: Path
) -> Iterator[RunningServer]:
    """Start a server, yield it once its port answers, and always stop it."""
    log = log_dir / f"{name}.stderr.log"
    with log.open("wb") as stderr:
        # A session of its own: Ctrl-C reaches only this harness, which then stops it in order.
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_listening(name, process, port, log)
        try:
            yield RunningServer(f"http://{HOST}:{port}", process.pid)
        except HarnessError:
            # A dead server explains a failing wrk better than wrk's own message does.
            _raise_if_exited(name, process, log)
            raise
        _raise_if_exited(name, process, log)
    finally:
        _stop(process)


def _raise_if_exited(name: str, process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        reason = f"exited with status {process.returncode} during the run"
        raise ServerError(name, reason, _tail(log))


def run_preparation(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float = PREPARATION_TIMEOUT_SECONDS,
    stdin: str | None = None,
) -> str:
    """Run a one-off command (migrate, demo, seed) to completion or fail the run with its
    output; returns what it printed on stdout."""
    try:
        done = subprocess.run(
            argv, cwd=REPO_ROOT, env=dict(env), capture_output=True, text=True, check=False,
            timeout=timeout, input=stdin,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ServerError(name, f"did not finish within {exc.timeout:.0f} s", "") from exc
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        reason = f"exited with status {done.returncode}"
        raise ServerError(name, reason, "\n".join(output[-STDERR_TAIL_LINES:]))
    return done.stdout


# --- resident memory ----------------------------------------------------------------------------

_VMRSS_RE = re.compile(r"^VmRSS:\s+(\d+) kB$", re.MULTILINE)


def parse_vmrss_kib(status: str) -> int:
    """The resident set size in KiB from the text of ``/proc/<pid>/status`` (its ``kB``)."""
    match = _VMRSS_RE.search(status)
    if match is None:
        raise ValueError("no VmRSS line: not a /proc/<pid>/status of a live process")
    return int(match.group(1))


def _rss_kib(pid: int) -> int:
    return parse_vmrss_kib(Path(f"/proc/{pid}/status").read_text())


class RssSampler:
    """Samples a process's resident memory on a thread while the ``with`` block runs.

    ``first_mb`` is the size when sampling began, ``peak_mb`` the largest sample, in MB of
    10**6 bytes (a spike shorter than the sampling interval can slip between two samples).
    """

    def __init__(self, pid: int, interval: float = RSS_SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.samples = 0
        self._first_kib = 0
        self._peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    @property
    def first_mb(self) -> float:
        return self._first_kib * 1024 / 1_000_000

    @property
    def peak_mb(self) -> float:
        return self._peak_kib * 1024 / 1_000_000

    def _sample(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the process ended: keep what we saw
            kib = _rss_kib(self.pid)
            if self.samples == 0:
                self._first_kib = kib
            self._peak_kib = max(self._peak_kib, kib)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
