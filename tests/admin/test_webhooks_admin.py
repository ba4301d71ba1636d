"""`/admin/webhooks`: an endpoint made in the browser gets its secret once, pings and
redeliveries reach a real local receiver and show in the delivery log, rotation signs with both
secrets, disable/enable/delete work; a private target is refused (422 naming the URL); an owner
sees and makes only endpoints of their own handles."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.delivery.worker import OutboxWorker
from app.models import WebhookEndpoint
from app.outbox_handlers import outbox_worker
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.databases import DatabaseUnderTest, make_settings
from tests.delivery.outbox_helpers import Clock
from tests.factories import World, add_endpoint, build_world
from tests.webhooks.webhook_helpers import SHORT_POLICY, Receiver

ANNAS_OWNER = "anna@owners.example"
PASSWORD = "anna's long password"
SECRET = re.compile(r'<code id="secret">(whsec_[^<]+)</code>')


@pytest.fixture
def allow_private() -> bool:
    """The receiver listens on 127.0.0.1; one test sets this to False to see it refused."""
    return True


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path, allow_private: bool) -> Settings:
    return make_settings(
        tmp_path, database.settings.effective_database_url, webhook_allow_private=allow_private
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks/leadlink"
    async with server:
        yield receiver
        server.close()


@pytest.fixture
def worker(app: Any) -> OutboxWorker:
    return outbox_worker(
        app.state.database, app.state.settings, policies={"webhook": SHORT_POLICY}, clock=Clock()
    )


@pytest.fixture
async def world(session: AsyncSession, owner: User) -> World:
    world = await build_world(session)
    await users.create_user(
        session, ANNAS_OWNER, PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()
    return world


async def _count(session: AsyncSession) -> int:
    session.expire_all()
    return await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0


async def _post(client: httpx.AsyncClient, path: str, **data: Any) -> httpx.Response:
    token = csrf_from((await client.get("/admin/webhooks/new")).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def _create(client: httpx.AsyncClient, **data: Any) -> tuple[str, str]:
    """Create an endpoint through the form; its page and its secret."""
    created = await _post(client, "/admin/webhooks", **data)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    assert 'data-copy="#secret"' in created.text
    page = re.search(r'href="(/admin/webhooks/\d+)"', created.text)
    secret = SECRET.search(created.text)
    assert page
    assert secret
    return page.group(1), secret.group(1)


def _log_rows(html: str) -> list[str]:
    table = re.search(r'<table class="stack deliveries".*?</table>', html, re.S)
    return re.findall(r"<tr>.*?</tr>", table.group(0), re.S)[1:] if table else []


async def test_create_ping_redeliver_rotate_disable_and_delete_from_the_browser(
    client: httpx.AsyncClient, receiver: Receiver, worker: OutboxWorker, owner: User
) -> None:
    await sign_in(client)
    empty = await client.get("/admin/webhooks")
    assert "No webhook endpoints yet" in empty.text

    page, secret = await _create(
        client, url=receiver.url, description="CRM", events=["lead.created"]
    )
    listing = await client.get("/admin/webhooks")
    assert receiver.url in listing.text
    assert secret not in listing.text
    assert "lead.created" in listing.text

    shown = await client.get(page)
    assert shown.status_code == 200
    assert_only_static_scripts(shown.text)
    assert secret not in shown.text
    assert "Nothing was sent to this endpoint yet" in shown.text

    pinged = await _post(client, f"{page}/ping")
    assert pinged.status_code == 303
    assert await worker.drain() == 1
    [first] = receiver.requests
    assert first.verifies_with(secret)
    log = await client.get(page)
    assert "Ping queued" in log.text
    [row] = _log_rows(log.text)
    assert "ping" in row
    assert "delivered" in row
    assert ">200<" in row
    assert " ms<" in row

    delivery_id = re.search(r"/deliveries/(\d+)/redeliver", log.text)
    assert delivery_id
    again = await _post(client, f"{page}/deliveries/{delivery_id.group(1)}/redeliver")
    assert again.status_code == 303
    assert await worker.drain() == 1
    assert receiver.requests[1].headers["Leadlink-Id"] == first.headers["Leadlink-Id"]
    assert len(_log_rows((await client.get(page)).text)) == 2

    rotated = await _post(client, f"{page}/rotate")
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    new_secret = SECRET.search(rotated.text)
    assert new_secret
    assert new_secret.group(1) != secret
    assert "previous secret keeps signing" in rotated.text
    await _post(client, f"{page}/ping")
    assert await worker.drain() == 1
    assert receiver.requests[2].verifies_with(new_secret.group(1))
    assert receiver.requests[2].verifies_with(secret)

    assert (await _post(client, f"{page}/disable")).status_code == 303
    disabled = await client.get(page)
    assert "disabled" in disabled.text
    assert f'action="{page}/ping"' not in disabled.text
    refused = await _post(client, f"{page}/ping")
    assert refused.status_code == 303
    assert "enable it first" in (await client.get(page)).text
    assert (await _post(client, f"{page}/enable")).status_code == 303
    assert f'action="{page}/ping"' in (await client.get(page)).text

    deleted = await _post(client, f"{page}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/admin/webhooks"
    assert "No webhook endpoints yet" in (await client.get("/admin/webhooks")).text
    assert (await client.get(page)).status_code == 404


@pytest.mark.parametrize("allow_private", [False])
async def test_a_private_target_is_refused_with_422_naming_the_url(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await sign_in(client)
    response = await _post(client, "/admin/webhooks", url="http://127.0.0.1:9/hooks")
    assert response.status_code == 422
    assert re.search(r'id="f-url"[^>]*aria-invalid="true"', response.text)
    assert "cannot receive webhooks" in response.text
    assert 'value="http://127.0.0.1:9/hooks"' in response.text
    assert await _count(session) == 0


@pytest.mark.parametrize(
    "url", ["http://0177.0.0.1/hooks", "http://\u2460\u2461\u2466.0.0.1/", "http://999.0.0.1/"]
)
@pytest.mark.parametrize("allow_private", [False])
async def test_an_odd_spelling_of_a_private_or_invalid_host_is_a_422(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, url: str
) -> None:
    await sign_in(client)
    response = await _post(client, "/admin/webhooks", url=url)
    assert response.status_code == 422, response.text
    assert re.search(r'id="f-url"[^>]*aria-invalid="true"', response.text)
    assert await _count(session) == 0


async def test_an_owner_sees_and_makes_endpoints_of_their_handles_only(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    anna_id = world.anna.id
    annas, _ = await add_endpoint(
        session, "https://hooks.anna.example/in", handles=frozenset({world.anna.id})
    )
    bobs, _ = await add_endpoint(
        session, "https://hooks.bob.example/in", handles=frozenset({world.bob.id})
    )
    both, _ = await add_endpoint(
        session,
        "https://hooks.both.example/in",
        handles=frozenset({world.anna.id, world.bob.id}),
    )
    everyone, _ = await add_endpoint(session, "https://hooks.all.example/in")
    await session.commit()

    await sign_in(client, ANNAS_OWNER, PASSWORD)
    listing = (await client.get("/admin/webhooks")).text
    assert "hooks.anna.example" in listing
    for hidden in ("hooks.bob.example", "hooks.both.example", "hooks.all.example"):
        assert hidden not in listing
    assert (await client.get(f"/admin/webhooks/{annas.id}")).status_code == 200
    for endpoint in (bobs, both, everyone):
        assert (await client.get(f"/admin/webhooks/{endpoint.id}")).status_code == 404
        assert (await _post(client, f"/admin/webhooks/{endpoint.id}/ping")).status_code == 404

    before = await _count(session)
    for handles in ([], ["bob"], ["anna", "bob"]):
        refused = await _post(
            client, "/admin/webhooks", url="https://hooks.new.example/in", handles=handles
        )
        assert refused.status_code == 422
        assert 'id="f-handles" aria-invalid="true"' in refused.text
    assert await _count(session) == before

    page, _secret = await _create(client, url="https://hooks.new.example/in", handles=["anna"])
    session.expire_all()
    made = await session.get(WebhookEndpoint, int(page.rsplit("/", 1)[1]))
    assert made is not None
    assert made.handle_ids == [anna_id]
