"""`Idempotency-Key` on writes: the same key and body replay the first response for 24 hours,
another body is a 422 naming the header, and two concurrent requests with one key make one
lead and one stored response."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.idempotency.models import IdempotencyKey
from app.leads.models import Lead
from tests.databases import BACKENDS, FreshApp
from tests.factories import World, add_handle, add_page, bearer, issue_key

LEADS = "/api/v1/leads"


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_same_request_gets_the_first_response_again(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = {**bearer(world.keys["rw"]), "Idempotency-Key": "import-1"}
    body = {"email": "once@example.com", "page": "anna-guide", "status": "confirmed"}
    first = await client.post(LEADS, json=body, headers=headers)
    assert first.status_code == 201
    # Same body, keys in another order: still the same request.
    replay = await client.post(LEADS, json=dict(reversed(body.items())), headers=headers)
    assert replay.status_code == 201  # the first response, not "200 already exists"
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    assert await _count(session, Lead, Lead.email == "once@example.com") == 1

    other = await client.post(LEADS, json={**body, "name": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    elsewhere = await client.patch(
        f"{LEADS}/{world.anna_lead.id}", json={"status": "customer"}, headers=headers
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_keys_belong_to_one_api_key_and_expire_after_a_day(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    body = {"email": "twice@example.com", "page": "anna-guide", "status": "confirmed"}
    mine = await client.post(
        LEADS, json=body, headers={**bearer(world.keys["rw"]), "Idempotency-Key": "k"}
    )
    theirs = await client.post(
        LEADS, json=body, headers={**bearer(world.keys["write"]), "Idempotency-Key": "k"}
    )
    assert (mine.status_code, theirs.status_code) == (201, 200)
    assert "idempotent-replayed" not in theirs.headers

    await session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    await session.commit()
    again = await client.post(
        LEADS,
        json={**body, "name": "X"},
        headers={**bearer(world.keys["rw"]), "Idempotency-Key": "k"},
    )
    assert again.status_code == 200  # expired: a new request, answered afresh
    assert "idempotent-replayed" not in again.headers


async def test_failed_requests_are_not_stored_and_bad_keys_are_named(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = {**bearer(world.keys["rw"]), "Idempotency-Key": "retry-me"}
    failed = await client.post(LEADS, json={"email": "x", "page": "anna-guide"}, headers=headers)
    assert failed.status_code == 422
    assert await _count(session, IdempotencyKey) == 0
    fixed = await client.post(
        LEADS, json={"email": "x@example.com", "page": "anna-guide"}, headers=headers
    )
    assert fixed.status_code == 201

    too_long = {**bearer(world.keys["rw"]), "Idempotency-Key": "k" * 256}
    response = await client.post(
        LEADS, json={"email": "y@example.com", "page": "anna-guide"}, headers=too_long
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_patch_and_delete_replay(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    url = f"{LEADS}/{world.anna_lead.id}"
    headers = {**bearer(world.keys["rw"]), "Idempotency-Key": "patch-1"}
    change = {"status": "customer", "value": "10", "currency": "USD"}
    first = await client.patch(url, json=change, headers=headers)
    second = await client.patch(url, json=change, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()

    erase = {**bearer(world.keys["rw"]), "Idempotency-Key": "erase-1"}
    assert (await client.delete(url, headers=erase)).status_code == 204
    replay = await client.delete(url, headers=erase)
    assert replay.status_code == 204
    assert replay.headers["idempotent-replayed"] == "true"
    assert (await client.delete(url, headers=bearer(world.keys["rw"]))).status_code == 404


async def test_a_new_keys_secret_is_never_replayed(client: httpx.AsyncClient, world: World) -> None:
    headers = {**bearer(world.keys["admin"]), "Idempotency-Key": "key-1"}
    body = {"name": "CRM", "scopes": ["leads:read"]}
    first = await client.post("/api/v1/keys", json=body, headers=headers)
    replay = await client.post("/api/v1/keys", json=body, headers=headers)
    assert first.json()["secret"].startswith("ll_")
    assert replay.status_code == 201
    assert replay.json()["secret"] is None
    assert replay.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_requests_with_one_key_make_one_lead(
    backend: str, tmp_path: Path, fresh_app: FreshApp
) -> None:
    async with fresh_app(backend, tmp_path) as (client, _under_test, database):
        async with database.session() as session:
            handle = await add_handle(session, "anna")
            await add_page(session, handle, "guide")
            secret = await issue_key(session, ["leads:write"])
            await session.commit()
        headers = {**bearer(secret), "Idempotency-Key": "same-key"}
        body = {"email": "race@example.com", "page": "guide", "name": "Race"}

        responses = await asyncio.gather(
            *(client.post(LEADS, json=body, headers=headers) for _ in range(4))
        )

        assert [response.status_code for response in responses] == [201] * 4
        assert len({response.text for response in responses}) == 1
        assert sum("idempotent-replayed" in response.headers for response in responses) == 3
        async with database.session(write=False) as session:
            assert await _count(session, Lead, Lead.email == "race@example.com") == 1
            assert await _count(session, IdempotencyKey) == 1
