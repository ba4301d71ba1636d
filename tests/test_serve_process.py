"""The real `leadlink serve` process, talked to over a socket, logging JSON lines."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
from typer.testing import CliRunner

from app.cli import cli
from tests.servers import serve_env, start_server


def test_serve_answers_over_a_socket_and_stops_cleanly(tmp_path: Path) -> None:
    env = serve_env(tmp_path, LEADLINK_LOG_FORMAT="json")
    # `migrate` and `demo` run in-process (a subprocess costs seconds); `serve` is the real one.
    runner = CliRunner(env=env)
    for command in ("migrate", "demo"):
        result = runner.invoke(cli, [command])
        assert result.exit_code == 0, result.output
    server = start_server(env, tmp_path / "serve.log")
    base_url = server.base_url
    try:
        assert httpx.get(base_url + "/readyz").json() == {"status": "ok"}
        page = httpx.get(base_url + "/p/demo")
        assert page.status_code == 200
        assert "7-day content checklist" in page.text
        assert httpx.get(base_url + "/p/demo%0d%0aX-Evil:%201").status_code == 404
    finally:
        returncode = server.stop()
    stderr = server.output()
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
    assert returncode in {0, -signal.SIGTERM}, stderr[-3000:]
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
