"""Email-tool test fixtures: a local contract server per provider, the app's settings pointing
each provider's API at it (`LEADLINK_PROVIDER_API_URLS`), a clock to move, and the outbox worker
the app runs (the real handlers). Builders of connections and leads are in email_helpers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from app.config import Settings
from app.delivery.worker import OutboxWorker
from app.outbox_handlers import outbox_worker
from tests.databases import DatabaseUnderTest, make_settings
from tests.delivery.outbox_helpers import Clock
from tests.email_tools.contract_servers import Brevo, ContractServer, Kit, Mailchimp, serving
from tests.email_tools.email_helpers import KEYS

Server = TypeVar("Server", bound=ContractServer)


@pytest.fixture
async def tools() -> AsyncIterator[dict[str, ContractServer]]:
    """The three providers' servers, by provider name."""
    async with (
        serving(Mailchimp(KEYS["mailchimp"])) as mailchimp,
        serving(Kit(KEYS["kit"])) as kit,
        serving(Brevo(KEYS["brevo"])) as brevo,
    ):
        yield {"mailchimp": mailchimp, "kit": kit, "brevo": brevo}


def _one(tools: dict[str, ContractServer], provider: str, kind: type[Server]) -> Server:
    server = tools[provider]
    assert isinstance(server, kind)
    return server


@pytest.fixture
def mailchimp(tools: dict[str, ContractServer]) -> Mailchimp:
    """Mailchimp's server of `tools`, with its own attributes typed (`member`)."""
    return _one(tools, "mailchimp", Mailchimp)


@pytest.fixture
def kit(tools: dict[str, ContractServer]) -> Kit:
    """Kit's server of `tools`, with its own attributes typed (`by_email`, `tags`)."""
    return _one(tools, "kit", Kit)


@pytest.fixture
def brevo(tools: dict[str, ContractServer]) -> Brevo:
    """Brevo's server of `tools`, with its own attributes typed (`contacts`)."""
    return _one(tools, "brevo", Brevo)


@pytest.fixture
def settings(
    database: DatabaseUnderTest, tmp_path: Path, tools: dict[str, ContractServer]
) -> Settings:
    urls = {name: server.url for name, server in tools.items()}
    return make_settings(tmp_path, database.settings.effective_database_url, provider_api_urls=urls)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(app: Any, clock: Clock) -> OutboxWorker:
    """The outbox worker with every real handler, on the app's database and the test's clock."""
    return outbox_worker(app.state.database, app.state.settings, clock=clock)


@pytest.fixture
def make_worker(clock: Clock) -> Callable[..., OutboxWorker]:
    def build(app: Any, **options: Any) -> OutboxWorker:
        return outbox_worker(app.state.database, app.state.settings, clock=clock, **options)

    return build
