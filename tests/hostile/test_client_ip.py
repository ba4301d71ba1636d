"""`X-Forwarded-For` from a peer that is not a trusted proxy changes nothing (cases.py `SPOOFS`):
not the opt-in or sign-in rate limits (the third request from one client is a 429, whatever
each claimed to be), not whether `/metrics` is a local scrape, not the visitor a visit is
counted as. Behind a trusted proxy the header does name the client (the controls). On every
backend: the limits and the visits live next to the rows they protect."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import func, select

from app.leads.models import Lead
from app.links.models import Visit
from tests.factories import OWNER_EMAIL
from tests.hostile.cases import SPOOFS, Spoof
from tests.hostile.world import World, problems_in_log

UA = "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36 hostile-client-ip"


async def _request(
    world: World, client: httpx.AsyncClient, spoof: Spoof, number: int, forwarded: str | None
) -> httpx.Response:
    headers = {"User-Agent": UA}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    if spoof.action == "opt-in":
        form = {
            "a": world.attribution(),
            "email": f"spoof-{number}@example.com",
            "consent": "yes",
            "website": "",
        }
        return await client.post("/p/guide", data=form, headers=headers)
    if spoof.action == "sign-in":
        client.cookies.clear()
        headers["Cookie"] = world.values["login_cookie"]
        form = {"email": OWNER_EMAIL, "password": "wrong", "csrf_token": world.values["login_csrf"]}
        return await client.post("/admin/login", data=form, headers=headers)
    if spoof.action == "metrics":
        return await client.get("/metrics", headers=headers)
    return await client.get("/@anna", headers=headers)


async def _leads(world: World) -> int:
    counted = await world.connection.scalar(select(func.count()).select_from(Lead))
    return int(counted or 0)


@pytest.mark.parametrize("spoof", [pytest.param(s, id=s.id) for s in SPOOFS])
async def test_a_spoofed_forwarded_for_changes_no_identity(
    world: World, spoof: Spoof, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    statuses: list[int] = []
    problems: list[str] = []
    savepoint = await world.connection.begin_nested()
    try:
        async with world.variant(peer=(spoof.peer, 5000), **dict(spoof.settings)) as (client, app):
            for number, forwarded in enumerate(spoof.forwarded):
                before = await _leads(world)
                response = await _request(world, client, spoof, number, forwarded)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    if "Retry-After" not in response.headers:
                        problems.append("a 429 without Retry-After")
                    if await _leads(world) != before:
                        problems.append("a 429 that wrote a lead")
            if spoof.same_visitor is not None:
                await app.state.one_link.writer.flush()
                hashes = (
                    await world.connection.scalars(
                        select(Visit.visitor_hash).order_by(Visit.id.desc()).limit(len(statuses))
                    )
                ).all()
                if (len(set(hashes)) == 1) != spoof.same_visitor:
                    problems.append(f"visitor hashes {hashes}")
    finally:
        await savepoint.rollback()
    if tuple(statuses) != spoof.statuses:
        problems.append(f"statuses {statuses}, expected {list(spoof.statuses)}")
    problems += problems_in_log(caplog.records)
    assert not problems, f"{spoof.id}: " + "; ".join(problems)
