"""Behind trusted proxies that add the address they saw as an `X-Forwarded-For` line of their
own (HAProxy's `option forwardfor` does), after the lines already there: leadlink reads every
line as one chain, right to left, skipping trusted hops. Before, the opt-in read only the first
line (the client's own, so a client chose its address) and the one link only the last (so
behind a CDN and HAProxy every visitor looked like the CDN).

The test client's peer, 127.0.0.1, is the trusted HAProxy; 192.0.2.0/24 a trusted CDN in front
of it; 198.51.100.x the visitors; 203.0.113.x what visitors claim.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database
from app.links import service as links
from app.links.models import VisitRollup
from app.pages import service as pages
from app.signing import Signer
from tests.apps import build_app
from tests.databases import DatabaseUnderTest, make_settings

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1"
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')


@asynccontextmanager
async def proxied_app(
    database: DatabaseUnderTest, connection: AsyncConnection, tmp_path: Path
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = make_settings(
        tmp_path,
        database.settings.effective_database_url,
        trusted_proxies=["127.0.0.1", "192.0.2.0/24"],
        optin_rate_per_ip="3/minute",
        optin_rate_per_email="1000/hour",
    )
    app = build_app(settings, database=Database(connection, owns_engine=False))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield app, client


async def _publish(session: AsyncSession) -> int:
    handle = await links.create_handle(session, "proxied")
    page = await pages.create_page(session, handle, slug="proxied", title="Proxied")
    await pages.publish_page(session, page)
    await session.commit()
    return page.id


def _lines(first: str, added: str) -> list[tuple[str, str]]:
    """Two X-Forwarded-For lines: the one that came in, and the one the proxy added."""
    return [("User-Agent", BROWSER), ("X-Forwarded-For", first), ("X-Forwarded-For", added)]


async def test_a_client_cannot_dodge_the_opt_in_limit_with_its_own_forwarded_for(
    database: DatabaseUnderTest, connection: AsyncConnection, session: AsyncSession, tmp_path: Path
) -> None:
    await _publish(session)
    async with proxied_app(database, connection, tmp_path) as (app, client):
        page = await client.get("/p/proxied", headers={"User-Agent": BROWSER})
        found = TOKEN_FIELD.search(page.text)
        assert found is not None
        signer: Signer = app.state.one_link.signer
        values, _ = signer.unsign_fields(found.group(1))
        token = signer.sign_fields(values, now=time.time() - 5)

        async def opt_in(n: int, seen: str) -> int:
            response = await client.post(
                "/p/proxied",
                data={"a": token, "email": f"p{n}@example.com"},
                headers=_lines(f"203.0.113.{n + 1}", seen),
            )
            return response.status_code

        same_client = [await opt_in(n, "198.51.100.7") for n in range(5)]
        another_client = await opt_in(9, "198.51.100.8")

    assert same_client == [303, 303, 303, 429, 429]
    assert another_client == 303


async def test_one_link_visitors_are_told_apart_behind_two_proxies(
    database: DatabaseUnderTest, connection: AsyncConnection, session: AsyncSession, tmp_path: Path
) -> None:
    page_id = await _publish(session)
    async with proxied_app(database, connection, tmp_path) as (app, client):
        # The CDN's line: what the visitor claimed, then the visitor; HAProxy's: the CDN.
        for cdn_line in [
            "203.0.113.1, 198.51.100.7",
            "203.0.113.2, 198.51.100.7",  # the same visitor, claiming another address
            "203.0.113.1, 198.51.100.8",  # another visitor, claiming the first's address
        ]:
            response = await client.get("/@proxied", headers=_lines(cdn_line, "192.0.2.10"))
            assert response.status_code == 200
        await app.state.one_link.writer.flush()
        async with app.state.database.session(write=False) as reading:
            rollup = await reading.scalar(select(VisitRollup).where(VisitRollup.page_id == page_id))

    assert rollup is not None
    assert (rollup.visits, rollup.unique_visitors) == (3, 2)
