"""Keyset pagination as a syncing CRM sees it: a walk while leads keep arriving returns every
earlier lead exactly once, and an incremental walk (`updated_after`) sees a lead that changed
behind it again instead of skipping it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.leads.models import Lead
from tests.databases import BACKENDS, FreshApp
from tests.factories import World, add_handle, add_leads, add_page, bearer, issue_key

LEADS = "/api/v1/leads"


async def _walk(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await client.get(
            LEADS, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        await asyncio.sleep(0)  # let the writer in between pages


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_walk_during_inserts_returns_every_earlier_lead_once(
    backend: str, tmp_path: Path, fresh_app: FreshApp
) -> None:
    async with fresh_app(backend, tmp_path) as (client, _under_test, database):
        async with database.session() as session:
            handle = await add_handle(session, "anna")
            page = await add_page(session, handle, "guide")
            existing = {lead.id for lead in await add_leads(session, page, 230)}
            secret = await issue_key(session, ["leads:read"])
            await session.commit()

        stop = asyncio.Event()
        inserted = 0

        async def keep_inserting() -> None:
            nonlocal inserted
            while not stop.is_set() and inserted < 60:
                async with database.session() as session:
                    await add_leads(session, page, 3, prefix=f"new{inserted}-")
                    await session.commit()
                inserted += 3
                await asyncio.sleep(0.002)

        writer = asyncio.create_task(keep_inserting())
        try:
            items = await _walk(client, bearer(secret), {"limit": 17})
        finally:
            stop.set()
            await writer

        seen = [int(item["id"]) for item in items]
        assert len(seen) == len(set(seen)), "a lead came twice"
        assert existing <= set(seen), "an earlier lead was skipped"
        assert seen == sorted(seen)
        assert inserted > 0


async def test_updated_after_sees_a_lead_changed_mid_walk_again(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    leads = await add_leads(session, world.anna_page, 60)
    await session.commit()
    headers = bearer(world.keys["rw"])
    since = (utcnow() - timedelta(days=2)).isoformat()

    first = (
        await client.get(LEADS, params={"updated_after": since, "limit": 10}, headers=headers)
    ).json()
    changed = first["items"][3]
    patched = await client.patch(
        f"{LEADS}/{changed['id']}", json={"fields": {"crm_id": "42"}}, headers=headers
    )
    assert patched.status_code == 200
    rest = await _walk(
        client, headers, {"updated_after": since, "limit": 10, "cursor": first["next_cursor"]}
    )

    ids = [item["id"] for item in first["items"] + rest]
    assert ids.count(changed["id"]) == 2, "the changed lead must come again"
    assert rest[-1]["id"] == changed["id"]
    assert rest[-1]["fields"] == {"crm_id": "42"}
    assert {str(lead.id) for lead in leads} <= set(ids)
    assert len(ids) == len(set(ids)) + 1
    stamps = [(item["updated_at"], int(item["id"])) for item in first["items"] + rest]
    assert stamps[10:] == sorted(stamps[10:])

    # The next incremental sync starts after the last change it saw and gets nothing new.
    after_last = await client.get(
        LEADS, params={"updated_after": rest[-1]["updated_at"]}, headers=headers
    )
    assert after_last.json()["items"] == []


async def test_the_walk_does_not_depend_on_page_size(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await add_leads(session, world.anna_page, 25)
    # Ties in updated_at are broken by id, so no lead is lost at a page boundary.
    await session.execute(update(Lead).values(updated_at=utcnow() - timedelta(hours=1)))
    await session.commit()
    headers = bearer(world.keys["read"])
    since = (utcnow() - timedelta(days=1)).isoformat()
    expected = [item["id"] for item in await _walk(client, headers, {"limit": 500})]
    assert len(expected) == 27
    for limit in (4, 26):
        assert [item["id"] for item in await _walk(client, headers, {"limit": limit})] == expected
        by_update = await _walk(client, headers, {"limit": limit, "updated_after": since})
        assert sorted(item["id"] for item in by_update) == sorted(expected)


async def test_a_key_restricted_to_two_handles_walks_both_in_order(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    carol = await add_handle(session, "carol")
    carol_page = await add_page(session, carol, "carol-guide")
    for number in range(4):
        for page in (world.anna_page, world.bob_page, carol_page):
            await add_leads(session, page, 1, prefix=f"{page.slug}-{number}-")
    secret = await issue_key(session, ["leads:read"], [world.anna, world.bob])
    await session.commit()
    since = (utcnow() - timedelta(days=3)).isoformat()

    for params in ({"limit": 3}, {"limit": 3, "updated_after": since}):
        items = await _walk(client, bearer(secret), params)
        assert {item["handle"] for item in items} == {"anna", "bob"}
        assert len(items) == 10  # each handle's world lead and four more
        assert len({item["id"] for item in items}) == 10
        if "updated_after" in params:
            keys = [(item["updated_at"], int(item["id"])) for item in items]
        else:
            keys = [("", int(item["id"])) for item in items]
        assert keys == sorted(keys)


DOCS = Path(__file__).resolve().parent.parent.parent


async def test_the_docs_state_the_order_the_list_comes_in(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """Oldest first (by id), the order a CRM syncs in; README and docs/api.md say so too."""
    await add_leads(session, world.anna_page, 3)
    await session.commit()
    response = await client.get(LEADS, headers=bearer(world.keys["read"]))
    ids = [int(item["id"]) for item in response.json()["items"]]
    assert ids == sorted(ids)
    for name in ("README.md", "docs/api.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        lines = text.lower().splitlines()
        assert [line for line in lines if "leads" in line and "newest first" in line] == []
        assert "oldest first" in text, name
