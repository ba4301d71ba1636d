"""The real `leadlink serve` process, talked to over a socket, logging JSON lines."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli_runner import LEADLINK, REPO_ROOT, free_port, invoke_leadlink, leadlink_env


def _wait_until_up(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited early"
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up within 30 s")


def test_serve_answers_over_a_socket_and_stops_cleanly(tmp_path: Path) -> None:
    env = leadlink_env(tmp_path, LEADLINK_LOG_FORMAT="json")
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    assert invoke_leadlink("demo", env=env).exit_code == 0
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(LEADLINK), "serve", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(base_url, process)
        assert httpx.get(base_url + "/readyz").json() == {"status": "ok"}
        page = httpx.get(base_url + "/p/demo")
        assert page.status_code == 200
        assert "7-day content checklist" in page.text
        assert httpx.get(base_url + "/p/demo%0d%0aX-Evil:%201").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
    assert process.returncode in {0, -signal.SIGTERM}
    assert "Application shutdown complete" in stderr

    access = [
        json.loads(line)
        for line in stderr.splitlines()
        if line.startswith("{") and '"leadlink.access"' in line
    ]
    by_path = {entry["path"]: entry for entry in access}
    assert by_path["/p/demo"]["status"] == 200
    assert by_path["/p/demo"]["method"] == "GET"
    assert by_path["/p/demo"]["duration_ms"] >= 0
    # The CR/LF in the path is escaped in the log, never a second log line.
    assert by_path["/p/demo\\r\\nX-Evil: 1"]["status"] == 404
