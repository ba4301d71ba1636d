"""`LEADLINK_SHUTDOWN_DRAIN_SECONDS`: on SIGTERM a real `leadlink serve` answers `/readyz` with
503 at once and keeps serving for the drain, so a proxy's health checks move traffic away
before the listener closes (docs/production.md, "Several replicas"); a second SIGTERM stops it
at once. The replica test (tests/reliability/test_replicas.py) shows what it is for.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from app.cli import cli
from tests.servers import RunningServer, serve_env, start_server
from tests.waiting import wait_until


def _serve(tmp_path: Path, drain_seconds: float) -> RunningServer:
    env = serve_env(tmp_path, LEADLINK_SHUTDOWN_DRAIN_SECONDS=str(drain_seconds))
    result = CliRunner(env=env).invoke(cli, ["migrate"])  # in-process: a subprocess costs seconds
    assert result.exit_code == 0, result.output
    return start_server(env, tmp_path / "serve.log")


def _readyz(server: RunningServer) -> httpx.Response:
    return httpx.get(f"{server.base_url}/readyz", timeout=5)


def test_sigterm_turns_readyz_503_keeps_serving_for_the_drain_then_stops(tmp_path: Path) -> None:
    drain = 5.0
    server = _serve(tmp_path, drain)
    try:
        assert _readyz(server).json() == {"status": "ok"}
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_until(lambda: _readyz(server).status_code == 503, timeout=5, what="/readyz 503")
        assert _readyz(server).json() == {"status": "shutting down"}
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - signalled < drain, "the drain was over before it was seen"
        assert server.process.poll() is None
        returncode = server.process.wait(timeout=30)
        waited = time.monotonic() - signalled
    finally:
        server.stop(signal.SIGKILL)
    output = server.output()
    assert returncode in {0, -signal.SIGTERM}, output[-3000:]
    assert waited >= drain
    assert "SIGTERM: /readyz answers 503 for 5.0 s" in output
    assert "Application shutdown complete" in output


def test_a_second_sigterm_ends_the_drain(tmp_path: Path) -> None:
    server = _serve(tmp_path, 120)
    try:
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: _readyz(server).status_code == 503, timeout=5, what="/readyz 503")
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=30)  # well within the 120 s drain
    finally:
        server.stop(signal.SIGKILL)
    assert returncode in {0, -signal.SIGTERM}, server.output()[-3000:]
    assert "Application shutdown complete" in server.output()
