"""The served protocol: a response's head and body leave in one write, and nothing a client can
observe changes (keep-alive, HEAD, streamed bodies, `Connection: close`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.http_protocol import CoalescingHttpToolsProtocol, _CoalescingTransport
from tests.servers import serving_on_free_port


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)  # each chunk in a later step of the loop
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"hello " + scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serving_on_free_port(app, http=CoalescingHttpToolsProtocol) as free:
        yield free


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)  # until the server closes
    writer.close()
    return data


async def test_keep_alive_requests_get_whole_responses_in_order(port: int) -> None:
    requests = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await exchange(port, requests)

    first, second = data.split(b"HTTP/1.1 200 OK")[1:]
    assert first.endswith(b"\r\n\r\nhello /a")
    assert second.endswith(b"\r\n\r\nhello /b")
    assert b"content-length: 8" in first.lower()


async def test_a_head_request_gets_its_head_without_waiting(port: int) -> None:
    data = await exchange(port, b"HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    assert data.startswith(b"HTTP/1.1 200 OK")
    assert data.endswith(b"\r\n\r\n")


async def test_a_streamed_body_arrives_chunk_by_chunk_and_whole(port: int) -> None:
    data = await exchange(port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    body = data.split(b"\r\n\r\n", 1)[1]
    assert body == b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"


class Recording(asyncio.Transport):
    """What reaches the socket, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_writes_of_one_step_leave_together_and_close_sends_what_is_held() -> None:
    socket_side = Recording()
    transport = _CoalescingTransport(socket_side, asyncio.get_running_loop())

    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert socket_side.writes == []  # still in the step that wrote them
    await asyncio.sleep(0)
    assert socket_side.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]

    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.flush()  # a complete response does not wait for the end of the step
    assert socket_side.writes[-1] == b"HTTP/1.1 204 No Content\r\n\r\n"
    await asyncio.sleep(0)
    assert len(socket_side.writes) == 2  # and the step's end then has nothing left to send

    transport.write(b"last words")
    transport.close()
    assert socket_side.writes[-1] == b"last words"
    assert socket_side.closed
