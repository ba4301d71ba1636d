"""The real `leadlink serve` process, talked to over a socket, logging JSON lines."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import served_base_url
from tests.servers import running_server, serve_env, start_server


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


def test_serve_on_another_port_links_to_that_port(tmp_path: Path) -> None:
    """Without LEADLINK_BASE_URL the links the app writes (emails, the API's one link) point
    at the port served, not at the default :8000."""
    env = serve_env(tmp_path)
    assert "LEADLINK_BASE_URL" not in env
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    demo = runner.invoke(cli, ["demo"])
    assert demo.exit_code == 0, demo.output
    key = re.findall(r"ll_[A-Za-z0-9_-]{40,}", demo.stdout)[0]
    with running_server(env, tmp_path / "serve.log") as server:
        handle = httpx.get(
            f"{server.base_url}/api/v1/handles/demo", headers={"Authorization": f"Bearer {key}"}
        )
    assert handle.status_code == 200, handle.text
    assert handle.json()["url"] == f"http://127.0.0.1:{server.port}/@demo"


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("0.0.0.0", 80, "http://127.0.0.1:80"),
        ("::", 8000, "http://[::1]:8000"),
        ("localhost", 9000, "http://localhost:9000"),
    ],
)
def test_the_served_base_url(host: str, port: int, url: str) -> None:
    assert served_base_url(host, port) == url
