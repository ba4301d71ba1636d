"""What a hostile client cannot make a real `leadlink serve` hold (issue 14, findings 1, 2 and 7),
spoken over raw sockets: the server answers an oversized or unauthenticated API body before the
body is sent, refuses oversized headers with 431, and closes connections that stall."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.servers import RunningServer, running_server, serve_env

ANSWER_WITHIN = 5.0
TIMEOUT = 1.0  # the server's header and body timeouts here; the defaults are 10 s and 30 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("limits")
    env = serve_env(
        data_dir,
        LEADLINK_HEADER_TIMEOUT_SECONDS=str(TIMEOUT),
        LEADLINK_BODY_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    result = CliRunner(env=env).invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    with running_server(env, data_dir / "serve.log") as running:
        yield running


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WITHIN)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the deadline passes)."""
    received = b""
    deadline = time.monotonic() + ANSWER_WITHIN
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open; it sent {received[:200]!r}")


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split()[1])


def api_head(length: int, *extra: str) -> bytes:
    lines = [
        "POST /api/v1/webhooks HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (api_head(50 * 1024 * 1024), 413),
        (api_head(500 * 1024), 401),
        (api_head(500 * 1024, "Authorization: Bearer ll_" + "x" * 43), 401),
    ],
    ids=["50-MB", "no-key", "unknown-key"],
)
def test_an_api_body_is_refused_before_it_is_sent(
    server: RunningServer, head: bytes, status: int
) -> None:
    with connect(server) as sock:
        sock.sendall(head)  # and not a byte of the body announced
        response = read_until_closed(sock)
    assert status_of(response) == status


def get_head(*headers: str) -> bytes:
    return (
        "\r\n".join(["GET /healthz HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "head",
    [
        get_head("User-Agent: " + "a" * 64 * 1024),
        get_head("Cookie: " + "c" * 20 * 1024),
        get_head(*(f"X-Header-{n}: {n}" for n in range(101))),
    ],
    ids=["64-KiB-user-agent", "20-KiB-cookie", "101-headers"],
)
def test_an_oversized_request_head_is_a_431(server: RunningServer, head: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(head)
        response = read_until_closed(sock)
    assert status_of(response) == 431
    assert b"connection: close" in response.lower()


def test_an_ordinary_large_head_is_served(server: RunningServer) -> None:
    head = get_head("Cookie: " + "c" * 8 * 1024, *(f"X-Header-{n}: {n}" for n in range(90)))
    with connect(server) as sock:
        sock.sendall(head)
        assert status_of(sock.recv(65536)) == 200


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag"],
    ids=["nothing", "half-a-request-line", "half-the-headers"],
)
def test_a_stalled_head_is_closed_within_the_timeout(server: RunningServer, sent: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        response = read_until_closed(sock)
        waited = time.monotonic() - started
    assert TIMEOUT * 0.9 <= waited < TIMEOUT + 2
    if sent:
        assert status_of(response) == 408
    else:
        assert response == b""


def test_a_stalled_body_is_closed_within_the_timeout(server: RunningServer) -> None:
    head = (
        "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(head.encode() + b"email=someone%40example.com&pass")  # and no more
        started = time.monotonic()
        read_until_closed(sock)
        waited = time.monotonic() - started
    assert TIMEOUT * 0.9 <= waited < TIMEOUT + 2


def test_a_slow_but_moving_request_is_served(server: RunningServer) -> None:
    head = get_head("User-Agent: patient")
    with connect(server) as sock:
        for part in (head[:10], head[10:30], head[30:]):
            sock.sendall(part)
            time.sleep(TIMEOUT / 8)  # a slow client, within the head's deadline
        assert status_of(sock.recv(65536)) == 200
