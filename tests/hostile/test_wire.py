"""Hostile bytes on the wire, to a real `leadlink serve` (cases.py `WIRE`): request lines and
headers no client library would send (NUL, bare CR, folded or colon-less headers, smuggling
pairs of lengths, an encoded CR/LF meant to split the answer's head, a forged `Host`). Each gets
its exact status, no header of the attacker's making comes back, and the server logs no error
or traceback. Once, on SQLite: the server refuses these before any database is asked."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.db import create_engine
from tests.databases import make_settings
from tests.factories import seed_demo_page
from tests.hostile.cases import WIRE, Wire
from tests.servers import RunningServer, running_server, serve_env

ANSWER_WITHIN = 10.0


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """A served SQLite database with the demo handle and page (`/@demo`, `/p/demo`)."""
    data_dir: Path = tmp_path_factory.mktemp("wire")
    env = serve_env(data_dir, LEADLINK_BASE_URL="http://leadlink.test")
    engine = create_engine(make_settings(data_dir, env["LEADLINK_DATABASE_URL"]))
    try:
        await seed_demo_page(engine)
    finally:
        await engine.dispose()
    # A generous start-up deadline: xdist workers may each start one on a loaded machine.
    with running_server(env, data_dir / "serve.log", timeout=120) as running:
        yield running


def _exchange(server: RunningServer, sent: bytes) -> bytes:
    """Send `sent` on a fresh connection and read the answer until the server closes it (or
    the whole answer to a request that keeps it open)."""
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(sent)
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = [
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                break
    return received


@pytest.mark.parametrize("wire", [pytest.param(w, id=w.id) for w in WIRE])
def test_hostile_bytes_on_the_wire(server: RunningServer, wire: Wire) -> None:
    logged_before = len(server.output())
    answer = _exchange(server, wire.sent)
    head = answer.partition(b"\r\n\r\n")[0]
    problems = []
    status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None
    if status != wire.status:
        problems.append(f"status {status}, expected {wire.status}: {answer[:200]!r}")
    if b"injected" in head.lower():
        problems.append(f"a smuggled header came back: {head!r}")
    for hidden in wire.hidden:
        if hidden in answer:
            problems.append(f"the answer contains {hidden!r}")
    logged = server.output()[logged_before:]
    if "Traceback" in logged or " ERROR " in logged:
        problems.append(f"the server logged: {logged[-1500:]}")
    assert not problems, f"{wire.id}: " + "; ".join(problems)
