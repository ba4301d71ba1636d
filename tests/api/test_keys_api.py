"""`/api/v1/keys`: issue (the secret once), list, show and revoke keys; `last_used_at` is kept
to the minute without a write per request."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys.models import ApiKey
from app.api_keys.service import hash_secret
from app.db import utcnow
from tests.factories import World, bearer

KEYS = "/api/v1/keys"


async def test_issue_use_list_and_revoke_a_key(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = bearer(world.keys["admin"])
    created = await client.post(
        KEYS,
        json={"name": "HubSpot", "scopes": ["leads:read"], "handles": ["@Anna"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["secret"]
    assert secret.startswith("ll_")
    assert secret.startswith(key["prefix"])
    assert key["handles"] == ["anna"]
    assert key["scopes"] == ["leads:read"]
    assert created.headers["location"] == f"{KEYS}/{key['id']}"
    stored = await session.get_one(ApiKey, int(key["id"]))
    assert stored.secret_hash == hash_secret(secret)
    assert secret not in stored.secret_hash

    leads = await client.get("/api/v1/leads", headers=bearer(secret))
    assert [lead["handle"] for lead in leads.json()["items"]] == ["anna"]

    shown = (await client.get(f"{KEYS}/{key['id']}", headers=admin)).json()
    assert "secret" not in shown
    assert shown["last_used_at"] is not None
    listed = (await client.get(KEYS, params={"limit": 500}, headers=admin)).json()
    assert key["id"] in [item["id"] for item in listed["items"]]
    assert all("secret" not in item for item in listed["items"])

    revoked = await client.post(f"{KEYS}/{key['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/api/v1/leads", headers=bearer(secret))
    assert refused.status_code == 401
    assert (await client.get(f"{KEYS}/{key['id']}", headers=admin)).json()["revoked_at"]


async def test_keys_list_pages_with_a_cursor(client: httpx.AsyncClient, world: World) -> None:
    admin = bearer(world.keys["admin"])
    first = (await client.get(KEYS, params={"limit": 3}, headers=admin)).json()
    assert len(first["items"]) == 3
    assert first["next_cursor"]
    rest = (
        await client.get(KEYS, params={"limit": 100, "cursor": first["next_cursor"]}, headers=admin)
    ).json()
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert len(ids) == len(world.keys)
    assert len(set(ids)) == len(ids)
    lead_cursor = (await client.get("/api/v1/leads", params={"limit": 1}, headers=admin)).json()[
        "next_cursor"
    ]
    wrong = await client.get(KEYS, params={"cursor": lead_cursor}, headers=admin)
    assert wrong.status_code == 422


async def test_bad_key_requests_are_named(client: httpx.AsyncClient, world: World) -> None:
    admin = bearer(world.keys["admin"])
    cases = [
        ({"name": "x", "scopes": ["everything"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["admin"]}, "name"),
    ]
    for body, field in cases:
        response = await client.post(KEYS, json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]]
    unknown = {"name": "x", "scopes": ["admin"], "handles": ["nobody"]}
    response = await client.post(KEYS, json=unknown, headers=admin)
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "handles"
    assert (await client.post(f"{KEYS}/999999/revoke", headers=admin)).status_code == 404
    assert (await client.get(f"{KEYS}/x1", headers=admin)).status_code == 404


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    secret = world.keys["read"]
    key_id = await world.key_id(session, "read")
    assert (await client.get("/api/v1/leads", headers=bearer(secret))).status_code == 200
    session.expire_all()
    first = (await session.get_one(ApiKey, key_id)).last_used_at
    assert first is not None
    assert (await client.get("/api/v1/leads", headers=bearer(secret))).status_code == 200
    session.expire_all()
    assert (await session.get_one(ApiKey, key_id)).last_used_at == first

    an_hour_ago = utcnow() - timedelta(hours=1)
    await session.execute(
        update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=an_hour_ago)
    )
    await session.commit()
    assert (await client.get("/api/v1/leads", headers=bearer(secret))).status_code == 200
    session.expire_all()
    latest = (await session.get_one(ApiKey, key_id)).last_used_at
    assert latest is not None
    assert latest > an_hour_ago + timedelta(minutes=59)
