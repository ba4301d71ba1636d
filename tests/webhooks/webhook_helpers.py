"""Helpers of the webhook tests: a real HTTP/1.1 receiver that answers from a script, the
documented verification example, the short retry budget, and calling the API with a key."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from app.delivery.worker import RetryPolicy
from app.leads.tokens import LeadLinks, LeadTokens
from tests.databases import TEST_SECRET
from tests.factories import bearer

# Three attempts a second or two apart: the budget tests spend it by moving the clock.
SHORT_POLICY = RetryPolicy(max_attempts=3, first_delay=1.0, max_delay=2.0, jitter=0.0)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "verify_webhook.py"


def _load_example() -> Callable[..., bool]:
    spec = importlib.util.spec_from_file_location("verify_webhook_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Callable[..., bool] = module.verify_webhook
    return function


verify_webhook = _load_example()
"""The receiver verification example of docs/webhooks.md, exactly as documented."""


@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    def verifies_with(self, secret: str) -> bool:
        return verify_webhook(self.body, self.headers, secret)


@dataclass
class Receiver:
    """Answers each request with the next scripted (status, headers, body); 200 when the
    script is spent. Everything received is kept in `requests`."""

    url: str = ""
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().title()] = value.strip()
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
            method, target, _version = request_line.split(" ", 2)
            self.requests.append(Received(method, target, headers, body))
            status, extra, content = self.script.pop(0) if self.script else (200, {}, b"ok")
            reason = HTTPStatus(status).phrase
            response = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(content)}"]
            response += ["Connection: close", *(f"{k}: {v}" for k, v in extra.items())]
            writer.write("\r\n".join(response).encode("latin-1") + b"\r\n\r\n" + content)
            await writer.drain()
        finally:
            writer.close()


def lead_links() -> LeadLinks:
    return LeadLinks("http://testserver", LeadTokens(TEST_SECRET))


async def api(
    client: httpx.AsyncClient, key: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    return await client.request(method, url, headers=bearer(key), **kwargs)
