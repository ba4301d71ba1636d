"""`/admin/keys`: a key is created with its secret shown once (and it works against the API),
listed without it, revoked (401 from then on); an owner sees, revokes and creates only keys
restricted to their own handles."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import service as api_keys
from app.models import ApiKey
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.factories import World, bearer, build_world

ANNAS_OWNER = "anna@owners.example"
PASSWORD = "anna's long password"
SECRET = re.compile(r'<code id="secret">(ll_[^<]+)</code>')


@pytest.fixture
async def world(session: AsyncSession, owner: User) -> World:
    world = await build_world(session)
    await users.create_user(
        session, ANNAS_OWNER, PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()
    return world


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/admin/keys/new")).text)


async def _count(session: AsyncSession) -> int:
    session.expire_all()
    return await session.scalar(select(func.count()).select_from(ApiKey)) or 0


async def _prefix(session: AsyncSession, secret: str) -> str:
    found = await api_keys.find_active_key(session, secret)
    assert found is not None
    key = await api_keys.get_api_key(session, found.id)
    return key.prefix


async def test_a_new_keys_secret_is_shown_once_works_and_revoking_it_makes_it_401(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    form = await client.get("/admin/keys/new")
    assert form.status_code == 200
    for scope in api_keys.SCOPES:
        assert f'name="scopes" value="{scope}"' in form.text
    assert 'name="handles" value="anna"' in form.text
    assert 'name="handles" value="bob"' in form.text

    created = await client.post(
        "/admin/keys",
        data={
            "name": "HubSpot sync",
            "scopes": ["leads:read"],
            "handles": ["anna"],
            "csrf_token": csrf_from(form.text),
        },
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    assert_only_static_scripts(created.text)
    match = SECRET.search(created.text)
    assert match, created.text
    secret = match.group(1)
    assert 'data-copy="#secret"' in created.text
    assert "secret" not in str(created.url)

    handles = await client.get("/api/v1/handles", headers=bearer(secret))
    assert handles.status_code == 200
    assert [item["name"] for item in handles.json()["items"]] == ["anna"]

    listing = (await client.get("/admin/keys")).text
    assert "HubSpot sync" in listing
    assert await _prefix(session, secret) in listing
    assert secret not in listing
    assert "@anna" in listing

    found = await api_keys.find_active_key(session, secret)
    assert found is not None
    revoked = await client.post(
        f"/admin/keys/{found.id}/revoke", data={"csrf_token": csrf_from(listing)}
    )
    assert revoked.status_code == 303
    after = await client.get("/admin/keys")
    assert "is revoked" in after.text
    assert "revoked" in after.text
    assert (await client.get("/api/v1/handles", headers=bearer(secret))).status_code == 401


async def test_bad_input_is_shown_with_422_and_nothing_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    before = await _count(session)
    response = await client.post(
        "/admin/keys", data={"name": "", "handles": ["nobody"], "csrf_token": await _token(client)}
    )
    assert response.status_code == 422
    assert 'id="f-name"' in response.text
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', response.text)
    assert 'id="f-scopes" aria-invalid="true"' in response.text
    assert "Choose at least one scope." in response.text
    assert await _count(session) == before


async def test_the_list_says_what_to_do_when_there_are_no_keys(
    client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    page = await client.get("/admin/keys")
    assert page.status_code == 200
    assert "No API keys yet" in page.text
    assert 'href="/admin/keys/new"' in page.text


async def test_an_owner_sees_and_revokes_only_keys_of_their_handles(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client, ANNAS_OWNER, PASSWORD)
    listing = (await client.get("/admin/keys")).text
    for name in ("anna_rw", "anna_admin"):
        assert await _prefix(session, world.keys[name]) in listing
    for name in ("read", "admin", "reports"):
        assert await _prefix(session, world.keys[name]) not in listing
    assert "@bob" not in listing

    unrestricted = await world.key_id(session, "admin")
    token = csrf_from(listing)
    refused = await client.post(f"/admin/keys/{unrestricted}/revoke", data={"csrf_token": token})
    assert refused.status_code == 404
    session.expire_all()
    assert (await api_keys.get_api_key(session, unrestricted)).revoked_at is None

    own = await world.key_id(session, "anna_rw")
    done = await client.post(f"/admin/keys/{own}/revoke", data={"csrf_token": token})
    assert done.status_code == 303


@pytest.mark.parametrize("handles", [[], ["bob"], ["anna", "bob"]])
async def test_an_owner_cannot_create_a_key_beyond_their_handles(
    client: httpx.AsyncClient, session: AsyncSession, world: World, handles: list[str]
) -> None:
    await sign_in(client, ANNAS_OWNER, PASSWORD)
    before = await _count(session)
    response = await client.post(
        "/admin/keys",
        data={
            "name": "sneaky",
            "scopes": ["admin"],
            "handles": handles,
            "csrf_token": await _token(client),
        },
    )
    assert response.status_code == 422
    assert 'id="f-handles" aria-invalid="true"' in response.text
    assert await _count(session) == before


async def test_an_owners_admin_key_sees_only_their_handles(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client, ANNAS_OWNER, PASSWORD)
    form = await client.get("/admin/keys/new")
    assert 'value="bob"' not in form.text
    created = await client.post(
        "/admin/keys",
        data={
            "name": "anna's tools",
            "scopes": ["admin"],
            "handles": ["anna"],
            "csrf_token": csrf_from(form.text),
        },
    )
    assert created.status_code == 200
    match = SECRET.search(created.text)
    assert match
    secret = match.group(1)
    handles = await client.get("/api/v1/handles", headers=bearer(secret))
    assert [item["name"] for item in handles.json()["items"]] == ["anna"]
    # A key restricted to handles cannot issue itself an unrestricted one.
    escalate = await client.post(
        "/api/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=bearer(secret)
    )
    assert escalate.status_code == 403
