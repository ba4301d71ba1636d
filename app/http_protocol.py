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
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]


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
        self._coalescing = _CoalescingTransport(transport, self.loop)
        coalescing: Any = self._coalescing
        super().connection_made(coalescing)

    def on_response_complete(self) -> None:
        self._coalescing.flush()  # head and body, in one write, before anything else happens
        super().on_response_complete()
