"""Opt-ins under load against a real `leadlink serve` process, killed with SIGKILL the moment the
last 303 arrives: every acknowledged opt-in is a committed lead with its consent record and its
confirmation email, exactly once, also when the same address arrives many times at once (and
the per-address limit still answers the sixth with 429). On SQLite and on a real PostgreSQL
database created for the run.

And the group commit's failure rule, on the test database: an opt-in the database refuses fails
its own request only; the others of its batch are written.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.db import Database, create_engine, utcnow
from app.delivery.models import OutboxMessage
from app.leads.forms import OptInForm
from app.leads.models import ConsentEvent, Lead
from app.leads.opt_in_writer import NewOptIn, OptInWriter
from app.leads.tokens import LeadLinks, LeadTokens
from app.links import service as links
from app.links.attribution import ATTRIBUTION_PURPOSE
from app.pages import service as pages
from app.pages.models import Page
from app.signing import Signer
from tests.databases import make_settings
from tests.factories import seed_demo_page
from tests.servers import RawConnection, serve_env, start_server

pytestmark = pytest.mark.slow

SECRET = "opt-in-load-test-secret-key-0123456789"
DISTINCT = 900
REPEATED = 10  # addresses sent 10 times each, all at once
PER_EMAIL = 5  # LEADLINK_OPTIN_RATE_PER_EMAIL's default, 5/hour
IN_FLIGHT = 64
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')


def _aged_token(base_url: str) -> str:
    """The page's signed attribution field, dated 5 s ago as if a person had read the page."""
    page = httpx.get(f"{base_url}/@demo", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    found = TOKEN_FIELD.search(page.text)
    assert found is not None, page.text[:500]
    signer = Signer(SECRET, ATTRIBUTION_PURPOSE)
    values, issued = signer.unsign_fields(found.group(1))
    return signer.sign_fields(values, now=issued - 5)


async def _submit_all(port: int, emails: list[str], token: str) -> Counter[int]:
    """POST the form once for each address, IN_FLIGHT requests at a time (one keep-alive
    connection each, spoken by hand: an httpx client would cost as much CPU as the server)."""
    statuses: Counter[int] = Counter()
    queue = list(emails)

    async def worker() -> None:
        connection = RawConnection(port)
        try:
            while queue:
                form = urlencode({"a": token, "email": queue.pop(), "consent": "yes"})
                status, _, _ = await connection.request(
                    "POST",
                    "/p/demo",
                    body=form.encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                statuses[status] += 1
        finally:
            await connection.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(IN_FLIGHT))), timeout=120)
    return statuses


async def test_every_acknowledged_opt_in_survives_a_kill(
    empty_database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, empty_database_url)
    engine = create_engine(settings)
    try:
        await seed_demo_page(engine)
        env = serve_env(
            tmp_path,
            LEADLINK_DATABASE_URL=empty_database_url,
            LEADLINK_SECRET_KEY=SECRET,
            LEADLINK_OPTIN_RATE_PER_IP="100000/minute",
            # Delivery is another process's job here, so every queued email stays visible.
            LEADLINK_OUTBOX_IN_PROCESS="false",
        )
        server = await asyncio.to_thread(start_server, env, tmp_path / "serve.log")
        base_url = server.base_url
        try:
            token = await asyncio.to_thread(_aged_token, base_url)
            distinct = [f"reader-{n}@example.com" for n in range(DISTINCT)]
            repeated = [f"again-{n}@example.com" for n in range(REPEATED)] * 10
            started = time.monotonic()
            statuses = await _submit_all(server.port, repeated + distinct, token)
            elapsed = time.monotonic() - started
        finally:
            # No shutdown, no flush: only commits count.
            await asyncio.to_thread(server.stop, signal.SIGKILL, 30)

        accepted = DISTINCT + PER_EMAIL * REPEATED
        assert statuses == {303: accepted, 429: (10 - PER_EMAIL) * REPEATED}, statuses
        async with engine.connect() as connection:
            assert await _count(connection, Lead) == DISTINCT + REPEATED
            assert await _count(connection, Lead, Lead.status == "pending") == DISTINCT + REPEATED
            # One confirmation per address: the repeats fall within the 10-minute throttle.
            assert await _count(connection, OutboxMessage) == DISTINCT + REPEATED
            # Every accepted submission, first or repeated, is in the consent ledger.
            assert await _count(connection, ConsentEvent) == accepted
            unanswered = await connection.scalar(
                select(func.count())
                .select_from(Lead)
                .where(~Lead.id.in_(select(OutboxMessage.lead_id)))
            )
            assert unanswered == 0
        assert elapsed < 60
    finally:
        await engine.dispose()


async def _count(connection: AsyncConnection, model: Any, *where: Any) -> int:
    return int(await connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _form(email: str) -> OptInForm:
    return OptInForm(
        email=email,
        name=None,
        consent=True,
        fields={},
        attribution_token="",
        honeypot_filled=False,
        recipient=email,
    )


async def test_a_refused_opt_in_fails_alone(
    settings: Settings, connection: AsyncConnection, session: AsyncSession
) -> None:
    handle = await links.create_handle(session, "batch")
    page = await pages.create_page(session, handle, slug="batch", title="Batch")
    await pages.publish_page(session, page)
    await session.commit()
    # A page deleted meanwhile, as far as the database is concerned: its lead is refused.
    gone = Page(id=page.id + 1000, handle_id=handle.id, slug="gone", double_opt_in=True)
    for name in ("title", "gift_title", "consent_text"):
        setattr(gone, name, getattr(page, name))
    gone.consent_version = page.consent_version

    database = Database(connection, owns_engine=False)
    writer = OptInWriter(database, LeadLinks(settings.base_url, LeadTokens("k" * 40)))
    writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.write(NewOptIn(page, _form("one@example.com"), None, utcnow())),
            writer.write(NewOptIn(gone, _form("two@example.com"), None, utcnow())),
            writer.write(NewOptIn(page, _form("three@example.com"), None, utcnow())),
            writer.write(NewOptIn(page, _form("one@example.com"), None, utcnow())),
            return_exceptions=True,
        )
    finally:
        await writer.stop()

    first, refused, third, repeat = outcomes
    assert isinstance(first, int)
    assert isinstance(third, int)
    assert isinstance(refused, IntegrityError)
    assert repeat is None, "the same address twice in a batch: the second is a repeat"
    emails = set(await session.scalars(select(Lead.email).where(Lead.page_id == page.id)))
    assert emails == {"one@example.com", "three@example.com"}
    queued = await session.scalars(select(OutboxMessage.lead_id))
    assert Counter(queued) == Counter([first, third])
