"""The load of the fault tests: opt-ins and one-link clicks sent over many keep-alive connections
at once, each answer written down with the moment it arrived.

The client is spoken by hand over asyncio streams (an httpx client costs as much CPU per request
as the server's work on it) and tells two failures apart: a connection that could not be opened
(nothing was sent: the same opt-in is sent again once the server is back) and one lost after the
request went out (the outcome is unknown: the opt-in is written down as unanswered and the load
moves on, as a browser would show an error).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = [
    "BROWSER_USER_AGENT",
    "ClickRecord",
    "ConnectionLost",
    "HttpConnection",
    "Load",
    "NotConnected",
    "OptInRecord",
    "Response",
]

# A person in Instagram's in-app browser: counted as a visit (no bot, no prefetch).
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 297.0.0.18.109 (iPhone14,5; iOS 17_4; en_US; en; "
    "scale=3.00; 1170x2532; 510468404)"
)
TOKEN_FIELD = re.compile(rb'name="a" value="([^"]+)"')
REQUEST_TIMEOUT = 30.0
STOP_DEADLINE = 60.0
# While the server is down, each worker knocks again after 50 ms, doubling to 500 ms (eighty
# workers knocking every 20 ms cost the starting server as much CPU as its own start).
FIRST_RECONNECT_PAUSE = 0.05
MAX_RECONNECT_PAUSE = 0.5


class NotConnected(Exception):
    """The connection could not be opened: nothing was sent."""


class ConnectionLost(Exception):
    """The connection failed after the request went out: it may or may not have been served."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:`port`, opened again when it is lost."""

    def __init__(self, port: int, *, user_agent: str = BROWSER_USER_AGENT) -> None:
        self.port = port
        self.user_agent = user_agent
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Response:
        if self._streams is None:
            try:
                self._streams = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), REQUEST_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                raise NotConnected(str(exc)) from exc
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"User-Agent: {self.user_agent}",
            "Accept: text/html",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            return await asyncio.wait_for(self._exchange(head + body), REQUEST_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            self.close()
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(self, request: bytes) -> Response:
        assert self._streams is not None
        reader, writer = self._streams
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line.startswith(b"HTTP/1.1 "):
            raise ValueError(f"no HTTP answer: {status_line[:80]!r}")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].transport.abort()
            self._streams = None


@dataclass(frozen=True, slots=True)
class OptInRecord:
    """One opt-in sent: its answer (None: the connection was lost after sending it)."""

    email: str
    status: int | None
    answered_at: float  # time.monotonic()
    seconds: float  # from sending to the answer (or the loss)
    retry_after: str | None = None
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class ClickRecord:
    """One click on the one link: its answer and the signed form field of the page it got (which
    names the visit's ref)."""

    status: int | None
    answered_at: float
    seconds: float
    token: bytes | None = None


@dataclass
class Load:
    """Opt-ins to `/p/demo` and clicks on `paths`, each kind `in_flight` at a time, from
    `start()` until `stop()`. Every opt-in has an address of its own (`email_prefix-N@…`)."""

    port: int
    attribution_token: str
    email_prefix: str
    opt_ins_in_flight: int = 16
    clicks_in_flight: int = 64
    paths: Sequence[str] = ("/@demo", "/@demo/tiktok")
    opt_ins: list[OptInRecord] = field(default_factory=list)
    clicks: list[ClickRecord] = field(default_factory=list)
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._addresses: Iterator[str] = (
            f"{self.email_prefix}-{n}@example.com" for n in itertools.count()
        )
        self._click_paths = itertools.cycle(self.paths)
        self._acknowledged = 0
        self._answered = 0

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._tasks = [
            *(asyncio.create_task(self._opt_in_worker()) for _ in range(self.opt_ins_in_flight)),
            *(asyncio.create_task(self._click_worker()) for _ in range(self.clicks_in_flight)),
        ]

    async def stop(self) -> None:
        """Let every request in flight finish (or fail), then end the workers."""
        self._stopping.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), STOP_DEADLINE)

    @property
    def acknowledged_opt_ins(self) -> int:
        """303s so far (a running count: take it before and after a moment to count since)."""
        return self._acknowledged

    @property
    def answered_clicks(self) -> int:
        """200s so far."""
        return self._answered

    def opt_in_statuses(self) -> Counter[int | None]:
        return Counter(r.status for r in self.opt_ins)

    def click_statuses(self) -> Counter[int | None]:
        return Counter(r.status for r in self.clicks)

    async def _opt_in_worker(self) -> None:
        connection = HttpConnection(self.port)
        try:
            while not self._stopping.is_set():
                email = next(self._addresses)
                body = urlencode({"a": self.attribution_token, "email": email, "consent": "yes"})
                pause = FIRST_RECONNECT_PAUSE
                while not self._stopping.is_set():
                    sent = time.monotonic()
                    try:
                        response = await connection.request(
                            "POST",
                            "/p/demo",
                            body=body.encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        )
                    except NotConnected:
                        # The server is down: send it again once it is back.
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, MAX_RECONNECT_PAUSE)
                        continue
                    except ConnectionLost:
                        now = time.monotonic()
                        self.opt_ins.append(OptInRecord(email, None, now, now - sent))
                        break
                    now = time.monotonic()
                    self._acknowledged += response.status == 303
                    self.opt_ins.append(
                        OptInRecord(
                            email,
                            response.status,
                            now,
                            now - sent,
                            response.headers.get("retry-after"),
                            response.headers.get("content-type", ""),
                        )
                    )
                    break
        finally:
            connection.close()

    async def _click_worker(self) -> None:
        connection = HttpConnection(self.port)
        pause = FIRST_RECONNECT_PAUSE
        try:
            while not self._stopping.is_set():
                sent = time.monotonic()
                try:
                    response = await connection.request("GET", next(self._click_paths))
                except NotConnected:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, MAX_RECONNECT_PAUSE)
                    continue
                except ConnectionLost:
                    now = time.monotonic()
                    self.clicks.append(ClickRecord(None, now, now - sent))
                    continue
                pause = FIRST_RECONNECT_PAUSE
                now = time.monotonic()
                self._answered += response.status == 200
                found = TOKEN_FIELD.search(response.body) if response.status == 200 else None
                self.clicks.append(
                    ClickRecord(response.status, now, now - sent, found.group(1) if found else None)
                )
        finally:
            connection.close()
