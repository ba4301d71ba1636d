"""An owner limited to some handles sees and changes nothing of another handle, on every route.

The routes are read from the app, like the access test: every path parameter must have a value
on another owner's handle in `FOREIGN_VALUES` (a new kind of parameter fails until it is added
here), and that value must answer 404 to GET and to a POST with a valid CSRF token. Routes
without path parameters are asked about the other handle through their query and form fields;
their answers must not show its data, and nothing of it may change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.layout import SECTIONS
from app.api_keys import service as api_keys
from app.connections import service as connections
from app.connections.crypto import cipher_for
from app.delivery.models import OutboxMessage
from app.leads.models import Lead
from app.links.models import Route
from app.models import ApiKey, Connection, Page, WebhookDelivery, WebhookEndpoint
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import csrf_from, sign_in
from tests.databases import TEST_SECRET
from tests.factories import add_endpoint, build_world, issue_key

OWNER_OF_ANNA = "anna@owners.example"
PASSWORD = "anna's long password"
# What of bob's must never appear in a page shown to anna's owner.
BOB_MARKERS = ("other@example.com", "bob-guide", "@bob", "bob.example")
# Routes that act on the signed-in account itself; posting to them would sign the test out.
OWN_ACCOUNT = {"/admin/logout", "/admin/account/password"}
# Pages for strangers, about no handle: the sign-in form and an invitation link (whose token
# is the only key; tests/admin/test_accounts_invitations.py covers it).
PUBLIC_PATHS = {"/admin/login", "/admin/invite/{token}"}


@dataclass
class Foreign:
    """The ids of things on bob's handle, as a route parameter names them."""

    bob_id: int
    bob_page_id: int
    bob_lead_id: int
    owner_id: int
    route_id: int
    key_id: int
    endpoint_id: int
    delivery_id: int
    message_id: int
    connection_id: int


FOREIGN_VALUES: dict[str, Callable[[Foreign], str]] = {
    "page_id": lambda f: str(f.bob_page_id),
    "lead_id": lambda f: str(f.bob_lead_id),
    "handle": lambda f: "bob",
    "route_id": lambda f: str(f.route_id),
    "key_id": lambda f: str(f.key_id),
    "endpoint_id": lambda f: str(f.endpoint_id),
    "delivery_id": lambda f: str(f.delivery_id),
    "message_id": lambda f: str(f.message_id),
    "connection_id": lambda f: str(f.connection_id),
    # Accounts are the admin's: an owner gets 404 for any of them, their own included.
    "user_id": lambda f: str(f.owner_id),
}
PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@pytest.fixture
async def foreign(session: AsyncSession) -> Foreign:
    world = await build_world(session)
    owner = await users.create_user(
        session, OWNER_OF_ANNA, PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    route = Route(handle_id=world.bob.id, source="tiktok", variant="a", page_id=world.bob_page.id)
    session.add(route)
    bob_key = await issue_key(session, ["leads:read"], [world.bob])
    endpoint, _ = await add_endpoint(
        session, "https://hooks.bob.example/leadlink", handles=frozenset({world.bob.id})
    )
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id="evt_bob",
        event_type="lead.created",
        lead_id=world.bob_lead.id,
    )
    message = OutboxMessage(
        kind="email",
        payload={"to": "other@example.com", "subject": "Confirm", "text": "bob.example"},
        lead_id=world.bob_lead.id,
    )
    session.add_all([delivery, message])
    connection, _ = await connections.create_connection(
        session,
        provider="stripe",
        label="bob.example shop",
        handle_ids=frozenset({world.bob.id}),
        secret="whsec_" + "b" * 32,
        options={},
        created_by=None,
        cipher=cipher_for(TEST_SECRET),
    )
    await session.flush()
    key = await api_keys.find_active_key(session, bob_key)
    assert key is not None
    foreign = Foreign(
        world.bob.id,
        world.bob_page.id,
        world.bob_lead.id,
        owner.id,
        route.id,
        key.id,
        endpoint.id,
        delivery.id,
        message.id,
        connection.id,
    )
    await session.commit()
    return foreign


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith("/admin") and route.path not in PUBLIC_PATHS
        for method in route.methods or ()
        if method in {"GET", "POST"}
    )


async def bob_snapshot(session: AsyncSession, foreign: Foreign) -> list[Any]:
    """Everything of bob's a route could change, as plain values."""
    session.expire_all()
    snapshot: list[Any] = []
    for model, condition in [
        (Lead, Lead.handle_id == foreign.bob_id),
        (Page, Page.handle_id == foreign.bob_id),
        (Route, Route.handle_id == foreign.bob_id),
        (ApiKey, ApiKey.id == foreign.key_id),
        (WebhookEndpoint, WebhookEndpoint.id == foreign.endpoint_id),
        (WebhookDelivery, WebhookDelivery.id == foreign.delivery_id),
        (OutboxMessage, OutboxMessage.id == foreign.message_id),
        (Connection, Connection.id == foreign.connection_id),
    ]:
        rows = (await session.scalars(select(model).where(condition))).all()
        snapshot.append(
            [
                {column.key: getattr(row, column.key) for column in model.__mapper__.column_attrs}
                for row in rows
            ]
        )
    return snapshot


async def signed_in_as_annas_owner(client: httpx.AsyncClient) -> str:
    response = await sign_in(client, OWNER_OF_ANNA, PASSWORD)
    assert response.status_code == 303
    return csrf_from((await client.get("/admin/report")).text)


async def test_every_route_with_an_id_answers_404_for_another_handles_things(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, foreign: Foreign
) -> None:
    token = await signed_in_as_annas_owner(client)
    before = await bob_snapshot(session, foreign)
    for method, path in routes_of(app):
        names = PARAM.findall(path)
        if not names:
            continue
        unknown = [name for name in names if name not in FOREIGN_VALUES]
        assert not unknown, f"{path}: add a value on bob's handle for {unknown} to FOREIGN_VALUES"
        concrete = PARAM.sub(lambda m: FOREIGN_VALUES[m.group(1)](foreign), path)
        if method == "GET":
            response = await client.get(concrete)
        else:
            response = await client.post(concrete, data={"csrf_token": token, "confirm": "yes"})
        assert response.status_code == 404, (method, path, response.status_code)
        assert not any(marker in response.text for marker in BOB_MARKERS), (method, path)
    assert await bob_snapshot(session, foreign) == before
    assert (await client.get("/admin/report")).status_code == 200  # still signed in


async def test_lists_and_forms_never_show_or_touch_another_handle(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, foreign: Foreign
) -> None:
    token = await signed_in_as_annas_owner(client)
    before = await bob_snapshot(session, foreign)
    asks = {
        "handle": "bob",
        "page": "bob-guide",
        "page_id": str(foreign.bob_page_id),
        "email": "other@example.com",
        "q": "other@example.com",
        "handles": "bob",
    }
    for method, path in routes_of(app):
        if PARAM.search(path) or path in OWN_ACCOUNT:
            continue
        if method == "GET":
            response = await client.get(path, params=asks)
        else:
            response = await client.post(path, data={**asks, "csrf_token": token})
        assert response.status_code < 500, (method, path)
        assert not any(marker in response.text for marker in BOB_MARKERS), (method, path)
    assert await bob_snapshot(session, foreign) == before


async def test_an_owner_does_not_see_the_accounts_section(
    app: FastAPI, client: httpx.AsyncClient, foreign: Foreign
) -> None:
    await signed_in_as_annas_owner(client)
    page = (await client.get("/admin/report")).text
    admin_only = [section for section in SECTIONS if section.admin_only]
    assert admin_only
    for section in admin_only:
        assert f'href="{section.path}"' not in page
        assert (await client.get(section.path)).status_code == 404


async def test_an_admin_sees_every_handle_in_the_report(
    client: httpx.AsyncClient, owner: User, foreign: Foreign
) -> None:
    await sign_in(client)
    page = (await client.get("/admin/report")).text
    assert "@bob" in page
    assert "@anna" in page
