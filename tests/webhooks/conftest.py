"""Webhook test harness: a real HTTP/1.1 receiver on a local port that answers from a script,
the app with private targets allowed (the receiver is on 127.0.0.1), a clock to move, and
small factories for endpoints and leads."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.delivery.worker import OutboxWorker, RetryPolicy
from app.leads.forms import OptInForm
from app.leads.tokens import LeadLinks, LeadTokens
from app.outbox_handlers import outbox_worker
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpoint
from app.webhooks.signing import cipher_for
from tests.api.conftest import add_handle, add_page, bearer, issue_key
from tests.conftest import TEST_SECRET, DatabaseUnderTest, make_settings
from tests.delivery.outbox_helpers import Clock

__all__ = [
    "SHORT_POLICY",
    "Received",
    "Receiver",
    "add_endpoint",
    "add_handle",
    "add_page",
    "bearer",
    "issue_key",
    "opt_in_form",
    "verify_webhook",
]

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


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hooks/leadlink"
    async with server:
        yield receiver
        server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def allow_private() -> bool:
    """Tests parametrize this to False to see private targets refused."""
    return True


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path, allow_private: bool) -> Settings:
    return make_settings(
        tmp_path, database.settings.effective_database_url, webhook_allow_private=allow_private
    )


@pytest.fixture
def make_worker(clock: Clock) -> Callable[..., OutboxWorker]:
    """A worker on `database` with the short retry budget for webhooks and the test's clock."""

    def build(database: Database, settings: Settings, **options: Any) -> OutboxWorker:
        options.setdefault("policies", {"webhook": SHORT_POLICY})
        options.setdefault("clock", clock)
        return outbox_worker(database, settings, **options)

    return build


@pytest.fixture
async def admin_key(session: AsyncSession) -> str:
    secret = await issue_key(session, ["admin"])
    await session.commit()
    return secret


async def add_endpoint(
    session: AsyncSession,
    url: str,
    *,
    events: tuple[str, ...] = (),
    handles: frozenset[int] | None = None,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint made by the service (as the API would), and its signing secret."""
    return await webhooks.create_endpoint(
        session,
        url=url,
        event_types=events,
        description="test",
        visible=handles,
        cipher=cipher_for(TEST_SECRET),
        allow_private=True,
    )


def opt_in_form(email: str, name: str = "Fan") -> OptInForm:
    return OptInForm(
        email=email,
        name=name,
        consent=True,
        fields={},
        attribution_token="",
        honeypot_filled=False,
    )


def lead_links() -> LeadLinks:
    return LeadLinks("http://testserver", LeadTokens(TEST_SECRET))


async def api(
    client: httpx.AsyncClient, key: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    return await client.request(method, url, headers=bearer(key), **kwargs)
