"""`/admin/connections`: a shop connected in the browser shows the webhook URL to paste into
it, takes its signing secret (masked after, never shown again), lists what it received, and
disables, enables and deletes; Gumroad's ping URL with its key is shown once; an owner makes
only connections of their own handles; the report shows customers without a lead."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, Sale
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.factories import World, build_world
from tests.shop.shop_helpers import STRIPE_SECRET, checkout_event, post_gumroad, post_stripe

ANNAS_OWNER = "anna@owners.example"
PASSWORD = "anna's long password"
HOOK_URL = re.compile(r"/hooks/(stripe|shopify|gumroad)/([A-Za-z0-9_-]+)")
PING_URL = re.compile(r'<code id="secret">([^<]+)</code>')


@pytest.fixture
async def world(session: AsyncSession, owner: User) -> World:
    world = await build_world(session)
    await users.create_user(
        session, ANNAS_OWNER, PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()
    return world


async def _connections(session: AsyncSession) -> list[Connection]:
    session.expire_all()
    return list(await session.scalars(select(Connection).order_by(Connection.id)))


async def _create(client: httpx.AsyncClient, **form: str | list[str]) -> httpx.Response:
    token = csrf_from((await client.get("/admin/connections/new")).text)
    return await client.post("/admin/connections", data={"csrf_token": token, **form})


async def test_stripe_is_connected_then_given_its_secret_which_is_never_shown_again(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    empty = await client.get("/admin/connections")
    assert "No connections yet" in empty.text

    created = await _create(client, provider="stripe", label="Main store", handles=["anna"])

    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert page.status_code == 200
    assert_only_static_scripts(page.text)
    match = HOOK_URL.search(page.text)
    assert match is not None
    assert match.group(1) == "stripe"
    assert "needs a secret" in page.text
    assert "checkout.session.completed" in page.text  # what to select in Stripe

    saved = await client.post(
        created.headers["location"] + "/secret",
        data={"csrf_token": csrf_from(page.text), "secret": STRIPE_SECRET},
    )
    assert saved.status_code == 303
    page = await client.get(created.headers["location"])
    assert STRIPE_SECRET not in page.text
    assert "whsec_…" + STRIPE_SECRET[-4:] in page.text
    (connection,) = await _connections(session)
    assert (connection.status, connection.label, connection.public_id) == (
        "active",
        "Main store",
        match.group(2),
    )
    listing = await client.get("/admin/connections")
    assert "Stripe: Main store" in listing.text
    assert "@anna" in listing.text


async def test_a_wrong_kind_of_secret_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)

    response = await _create(client, provider="stripe", secret="sk_live_123", handles=["anna"])

    assert response.status_code == 422
    assert "starts with whsec_" in response.text
    assert 'id="f-secret"' in response.text
    assert await _connections(session) == []


async def test_received_events_show_on_the_connections_page(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    lead_id = world.anna_lead.id
    await sign_in(client)
    created = await _create(client, provider="stripe", secret=STRIPE_SECRET, handles=["anna"])
    (connection,) = await _connections(session)

    await post_stripe(client, connection, checkout_event("evt_paid", "fan@example.com", 4900))
    await post_stripe(client, connection, checkout_event("evt_new", "new@example.com", 1200))
    page = await client.get(created.headers["location"])

    assert "evt_paid" in page.text
    assert "49.00 EUR" in page.text
    assert f'href="/admin/leads/{lead_id}"' in page.text
    assert "evt_new" in page.text
    assert "no lead" in page.text
    report = await client.get("/admin/report")
    assert "Customers without a lead" in report.text


async def test_gumroad_shows_its_ping_url_once_and_a_new_one_on_demand(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)

    created = await _create(client, provider="gumroad", handles=["anna"], seller_id="seller-anna")

    assert created.status_code == 200
    match = PING_URL.search(created.text)
    assert match is not None
    url = match.group(1)
    key = url.split("?key=")[1]
    (connection,) = await _connections(session)
    show = await client.get(f"/admin/connections/{connection.id}")
    assert key not in show.text
    assert (await post_gumroad(client, connection, key)).json()["outcome"] == "customer"

    renewed = await client.post(
        f"/admin/connections/{connection.id}/secret", data={"csrf_token": csrf_from(show.text)}
    )
    new_match = PING_URL.search(renewed.text)
    assert new_match is not None
    new_key = new_match.group(1).split("?key=")[1]
    assert new_key != key
    assert (await post_gumroad(client, connection, key, sale_id="s2")).status_code == 400


async def test_disable_enable_and_delete(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    created = await _create(client, provider="stripe", secret=STRIPE_SECRET, handles=["anna"])
    (connection,) = await _connections(session)
    await post_stripe(client, connection, checkout_event("evt_1", "x@example.com", 100))
    page = created.headers["location"]
    token = csrf_from((await client.get(page)).text)

    await client.post(page + "/disable", data={"csrf_token": token})
    refused = await post_stripe(client, connection, checkout_event("evt_2", "x@example.com", 1))
    await client.post(page + "/enable", data={"csrf_token": token})
    taken = await post_stripe(client, connection, checkout_event("evt_3", "x@example.com", 1))
    deleted = await client.post(page + "/delete", data={"csrf_token": token})

    assert (refused.status_code, taken.status_code) == (404, 200)
    assert deleted.status_code == 303
    assert await _connections(session) == []
    assert await session.scalar(select(func.count()).select_from(Sale)) == 0
    assert (await client.get(page)).status_code == 404


async def test_an_owner_connects_only_their_own_handles(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client, ANNAS_OWNER, PASSWORD)

    every = await _create(client, provider="stripe")
    bobs = await _create(client, provider="stripe", handles=["bob"])
    annas = await _create(client, provider="stripe", handles=["anna"])

    assert (every.status_code, bobs.status_code, annas.status_code) == (422, 422, 303)
    (connection,) = await _connections(session)
    assert connection.created_by is not None
    form = (await client.get("/admin/connections/new")).text
    assert "@bob" not in form
