"""The replicas scenario of the bench: wrk's threads spread over the replicas' ports (checked
with the real wrk against two small HTTP servers), its ratio, where it is printed and written,
and that choosing it alone measures PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.processes import CorePinning
from bench.replicas import ReplicaScaling, thread_addresses_lua
from bench.results import Report, write_json
from bench.run import Scenario, parse_args, wrk_lua_script
from bench.wrk import run_wrk


@contextmanager
def counting_servers(count: int) -> Iterator[tuple[list[int], Counter[int]]]:
    """`count` HTTP servers on free ports answering 200; the Counter counts requests per port."""
    hits: Counter[int] = Counter()
    servers: list[ThreadingHTTPServer] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            hits[self.connection.getsockname()[1]] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    for _ in range(count):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield [server.server_port for server in servers], hits
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)"
)
def test_each_wrk_thread_talks_to_its_own_replica(tmp_path: Path) -> None:
    with counting_servers(2) as (ports, hits):
        script = tmp_path / "replicas.lua"
        lua = thread_addresses_lua(ports)
        script.write_text(wrk_lua_script(Scenario("replicas", "GET", "/", {}, "", lua), "r1"))
        result = run_wrk(
            f"http://127.0.0.1:{ports[0]}/",
            connections=2,
            seconds=1,
            script=script,
            pinning=CorePinning((), ()),
            threads=2,
        )

    assert result.requests > 0
    assert set(hits) == set(ports), hits
    assert sum(hits.values()) >= result.requests


def test_the_ratio_is_two_processes_over_one(tmp_path: Path) -> None:
    scaling = ReplicaScaling("postgresql", 32, one_process_rps=1500.0, two_processes_rps=2400.0)
    report = Report(replicas=[scaling])
    write_json(tmp_path / "last.json", {}, report, {}, growth=False)

    assert scaling.ratio == pytest.approx(1.6)
    assert "1.60 times" in scaling.line()
    written = json.loads((tmp_path / "last.json").read_text())["replicas"]
    assert written == [
        {
            "database": "postgresql",
            "connections": 32,
            "one_process_rps": 1500.0,
            "two_processes_rps": 2400.0,
            "ratio": 1.6,
        }
    ]


def test_choosing_only_replicas_measures_postgresql_and_nothing_else() -> None:
    options = parse_args(["--scenario", "replicas"])

    assert options.replicas
    assert options.databases == ("postgresql",)
    assert options.scenarios == ()
    assert options.streams == ()


def test_replicas_is_one_of_all_scenarios_and_sqlite_stays_the_default() -> None:
    options = parse_args([])

    assert options.replicas
    assert options.databases == ("sqlite",)
    assert parse_args(["--scenario", "replicas", "healthz"]).databases == ("sqlite",)
