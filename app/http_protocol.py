"""uvicorn's httptools protocol, with each response's head and body sent in one system call.

uvicorn writes a response's head when the app sends `http.response.start` and its body when the
app sends `http.response.body`: two `write`s, two TCP segments, and the client is woken twice.
For a small response such as a landing page, that second wake-up is a large share of the
request (docs/bench.md has the measurement). Here the transport holds what is written until
the response is complete (uvicorn's `on_response_complete`, called as the last body message is
sent), so head and body go out in one write, with no delay. Anything else written (a streamed
body's chunks, uvicorn's own error answers) goes out at the end of the event loop's step that
wrote it. Closing flushes first.

`leadlink serve` uses it, and so does the bench's bare endpoint, so both run the same server.

It also bounds what a client can make a connection hold (`ConnectionLimits`, from the settings):
a request head (request line and headers) larger than `max_header_bytes`, or with more than
`max_header_count` headers, is answered 431 and the connection closed, counted as the bytes
arrive, so a 100 MB header is never buffered; a head not complete within
`header_timeout_seconds` of its first byte (or of the connection, for the first request) and a
body that stalls for `body_timeout_seconds` while the app waits for it close the connection.
uvicorn's own `timeout_keep_alive` covers only the idle time between requests.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings

__all__ = ["CoalescingHttpToolsProtocol", "ConnectionLimits", "connection_limits"]

logger = logging.getLogger(__name__)
# A header line's separator and line end (`: ` and CRLF), counted like the bytes on the wire.
HEADER_LINE_OVERHEAD = 4


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    max_header_count: int
    header_timeout_seconds: float
    body_timeout_seconds: float


@cache
def connection_limits() -> ConnectionLimits:
    """The limits of this process's connections, read once from the environment (`Settings`
    alone: the protocol needs no secret key, and must not create one, e.g. for the bench)."""
    settings = Settings()
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        header_timeout_seconds=settings.header_timeout_seconds,
        body_timeout_seconds=settings.body_timeout_seconds,
    )


# After a refusal, how long and how much of the client's unread request is drained before the
# connection is closed (a megabyte header arrives in well under a second on any real link).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 8 * 1024 * 1024


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


class _CoalescingTransport:
    """A transport that joins the writes made within one step of the event loop."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, pause_reading, get_extra_info, abort…) is the transport's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._limits = connection_limits()
        self._coalescing = _CoalescingTransport(transport, self.loop)
        self._reading_head = True  # between requests, the next bytes are a head
        self._head_bytes = 0  # bytes received since the head began, while it is incomplete
        self._head_size = 0  # the parsed request line and headers
        self._head_lines = 0
        self._head_too_large = False
        self._lingering = False  # answered and closing: what arrives now is drained unread
        self._lingered_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        coalescing: Any = self._coalescing
        super().connection_made(coalescing)
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._coalescing.flush()  # head and body, in one write, before anything else happens
        super().on_response_complete()

    # The head: counted as it arrives, refused past the limits

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingered_bytes += len(data)
            if self._lingered_bytes > LINGER_MAX_BYTES:
                self._coalescing.close()
            return
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        if (
            self._reading_head
            and self._head_bytes > self._limits.max_header_bytes
            and not self._lingering
            and not self.transport.is_closing()
        ):
            self._refuse_head()  # still incomplete, and already too large

    def on_message_begin(self) -> None:
        self._head_size = 0
        self._head_lines = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url), lines=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + HEADER_LINE_OVERHEAD, lines=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        self._arm_body_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm_body_timer()  # the body moves: the stall is counted again from now
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _count_head(self, size: int, *, lines: int) -> None:
        # A head that completes within one read is counted here, exactly; `data_received`
        # counts the one still arriving.
        self._head_size += size
        self._head_lines += lines
        if (
            self._head_size > self._limits.max_header_bytes
            or self._head_lines > self._limits.max_header_count
        ):
            self._head_too_large = True
            raise _HeadTooLarge  # stops the parser; uvicorn answers with `send_400_response`

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        logger.warning(
            "Refused a request head over %d bytes or %d headers (431).",
            self._limits.max_header_bytes,
            self._limits.max_header_count,
        )
        self._answer_and_close(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header fields too large."
        )

    def _answer_and_close(self, status: HTTPStatus, message: str) -> None:
        if self._lingering:
            return  # answered already
        self._cancel_timers()
        body = message.encode("ascii")
        head = [f"HTTP/1.1 {status.value} {status.phrase}".encode("ascii")]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode("ascii"),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self._linger()

    def _linger(self) -> None:
        """Send the answer and our end of the connection, then drain what the client is still
        sending for a moment before closing (nginx's "lingering close"): closing with unread
        bytes makes the kernel reset the connection, and the client would see the reset
        instead of the answer. The drain is bounded in time and in bytes."""
        self._lingering = True
        self._lingered_bytes = 0
        if self._coalescing.can_write_eof():
            self._coalescing.write_eof()
        else:
            self._coalescing.flush()
        self.loop.call_later(LINGER_SECONDS, self._coalescing.close)

    # The timeouts

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(
            self._limits.header_timeout_seconds, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a request pipelined behind a slow answer waits for it
        elif self._head_bytes:
            self._answer_and_close(HTTPStatus.REQUEST_TIMEOUT, "The request was not sent in time.")
        else:
            self.transport.close()  # a connection that never sent a byte

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(
            self._limits.body_timeout_seconds, self._body_timed_out
        )

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._reading_head:
            return
        if self.flow.read_paused:
            self._arm_body_timer()  # the app is not reading: the client is not the one stalling
            return
        logger.info("Closed a connection whose request body stalled.")
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
