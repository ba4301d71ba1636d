"""Start a real `leadlink serve` process and wait, within a deadline, until it answers.

Every test that needs the served process goes through `start_server` (or `running_server`): its
output goes to a log file the test can read, the wait ends at a deadline with the server's output
in the failure message, and a server that never comes up is killed, never left behind.

A stand-in for someone else's server (a provider's API) is served in the test's own event loop
instead, by `serving_on_free_port`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

__all__ = [
    "LEADLINK",
    "REPO_ROOT",
    "RawConnection",
    "RunningServer",
    "ServerDidNotStart",
    "free_port",
    "running_server",
    "serve_env",
    "serving_on_free_port",
    "start_server",
]

LEADLINK = Path(sys.executable).parent / "leadlink"
REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
OUTPUT_TAIL = 4000


class ServerDidNotStart(AssertionError):
    """The server exited, or did not answer /healthz with 200 before the deadline."""


def free_port() -> int:
    """A port the OS has just handed out (xdist workers never pick the same one at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving_on_free_port(app: Any, **options: Any) -> AsyncIterator[int]:
    """`app` served by uvicorn on a free local port, as a task of the test's event loop (with
    uvicorn's `options`); yields the port once the server listens, and stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the local server did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `leadlink` process: no LEADLINK_* of the caller's, a SQLite file
    under `data_dir` unless `extra` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLINK_")}
    env.update(
        {
            "LEADLINK_DATA_DIR": str(data_dir),
            "LEADLINK_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'cli.db'}",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    env.update(extra)
    return env


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr, interleaved)."""
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send `sig` (SIGKILL: no shutdown at all) and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"leadlink serve did not stop within {timeout} s of {sig.name}:\n"
                f"{self.output()[-OUTPUT_TAIL:]}"
            ) from None


def start_server(
    env: dict[str, str],
    log: Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT,
) -> RunningServer:
    """`leadlink serve --port PORT [args…]`, once /healthz answers 200; its output goes to `log`.

    Fails (with the server's output) when the process exits or the deadline passes first.
    """
    port = port or free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(LEADLINK), "serve", "--port", str(port), *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(process, port, log)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"leadlink serve exited with {process.returncode} before answering "
                f"(last: {last}):\n{server.output()[-OUTPUT_TAIL:]}"
            )
        try:
            # A bare connect until something listens: an httpx request costs ~30 ms of CPU
            # (a new client, its TLS context), which the starting server needs more.
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            status = httpx.get(f"{server.base_url}/healthz", timeout=1).status_code
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200:
                return server
            last = f"/healthz answered {status}"
        if time.monotonic() >= deadline:
            process.kill()
            process.wait()
            raise ServerDidNotStart(
                f"leadlink serve did not answer /healthz with 200 within {timeout} s "
                f"(last: {last}):\n{server.output()[-OUTPUT_TAIL:]}"
            )
        time.sleep(0.05)


@contextmanager
def running_server(
    env: dict[str, str],
    log: Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT,
) -> Iterator[RunningServer]:
    """`start_server`, stopped with SIGTERM when the block ends (and killed if it hangs)."""
    server = start_server(env, log, port=port, args=args, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


class RawConnection:
    """One keep-alive HTTP/1.1 connection to a local server, spoken by hand: a load test's
    client must cost far less than the server it measures (httpx costs ~5 ms of CPU a request,
    as much as the server's work on an opt-in).

    `request()` sends one request and reads the whole response; a connection the server
    closes is opened again for the next request."""

    def __init__(
        self,
        port: int,
        *,
        user_agent: str = f"python-httpx/{httpx.__version__}",
        source: str | None = None,
    ):
        self.port = port
        self.user_agent = user_agent
        # A loopback address to connect from (127.0.0.0/8 is all local on Linux): another
        # client, as far as a proxy in front of the server can tell.
        self.source = source
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, *, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self._streams is None:
            local = (self.source, 0) if self.source else None
            self._streams = await asyncio.open_connection("127.0.0.1", self.port, local_addr=local)
        reader, writer = self._streams
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"User-Agent: {self.user_agent}",
            "Accept: */*",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status_line = await reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), f"not an HTTP response: {status_line!r}"
        status = int(status_line.split()[1])
        response_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if response_headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            await reader.readline()
            content = b"".join(chunks)
        else:
            content = await reader.readexactly(int(response_headers.get("content-length", "0")))
        if response_headers.get("connection", "").lower() == "close":
            await self.close()
        return status, response_headers, content

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            await writer.wait_closed()
