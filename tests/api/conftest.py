"""Small factories for the REST API tests: handles, pages, leads and API keys, plus an app on a
fresh database (real commits) for the concurrency tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import service as api_keys
from app.db import Database, utcnow
from app.handles.models import Handle
from app.leads.models import Lead
from app.links import service as links
from app.main import create_app
from app.pages.models import Page
from tests.api.helpers import World
from tests.conftest import DatabaseUnderTest, make_settings, open_fresh_database


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def add_handle(session: AsyncSession, name: str) -> Handle:
    return await links.create_handle(session, name)


async def add_page(session: AsyncSession, handle: Handle, slug: str, **values: Any) -> Page:
    values.setdefault("title", f"Page {slug}")
    values.setdefault("status", "published")
    page = Page(handle_id=handle.id, slug=slug, **values)
    session.add(page)
    await session.flush()
    return page


async def add_lead(
    session: AsyncSession,
    page: Page,
    email: str,
    *,
    created_at: datetime | None = None,
    **values: Any,
) -> Lead:
    at = created_at or utcnow()
    values.setdefault("status", "confirmed")
    lead = Lead(
        page_id=page.id,
        handle_id=page.handle_id,
        email=email,
        created_at=at,
        updated_at=at,
        **values,
    )
    session.add(lead)
    await session.flush()
    return lead


async def add_leads(
    session: AsyncSession, page: Page, count: int, *, prefix: str = "lead"
) -> list[Lead]:
    start = utcnow() - timedelta(days=1)
    leads = [
        Lead(
            page_id=page.id,
            handle_id=page.handle_id,
            email=f"{prefix}{number}@example.com",
            status="confirmed",
            source="instagram",
            created_at=start + timedelta(seconds=number),
            updated_at=start + timedelta(seconds=number),
        )
        for number in range(count)
    ]
    session.add_all(leads)
    await session.flush()
    return leads


async def issue_key(
    session: AsyncSession, scopes: Sequence[str], handles: Sequence[Handle] = ()
) -> str:
    issued = await api_keys.create_api_key(session, name="test", scopes=scopes, handles=handles)
    return issued.secret


@pytest.fixture
async def world(session: AsyncSession) -> World:
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    anna_page = await add_page(session, anna, "anna-guide")
    bob_page = await add_page(session, bob, "bob-guide")
    anna_lead = await add_lead(session, anna_page, "fan@example.com", name="Fan")
    bob_lead = await add_lead(session, bob_page, "other@example.com")
    keys = {
        "read": await issue_key(session, ["leads:read"]),
        "write": await issue_key(session, ["leads:write"]),
        "rw": await issue_key(session, ["leads:read", "leads:write"]),
        "admin": await issue_key(session, ["admin"]),
        "reports": await issue_key(session, ["reports:read"]),
        "anna_rw": await issue_key(session, ["leads:read", "leads:write"], [anna]),
        "anna_admin": await issue_key(session, ["admin"], [anna]),
        "revoked": await issue_key(session, ["admin"]),
    }
    revoked = await api_keys.find_active_key(session, keys["revoked"])
    assert revoked is not None
    await api_keys.revoke_api_key(session, revoked.id)
    await session.commit()
    return World(anna, bob, anna_page, bob_page, anna_lead, bob_lead, keys)


@asynccontextmanager
async def fresh_app(
    backend: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, DatabaseUnderTest, Database]]:
    """The app on a brand-new database of its own: every request commits for real."""
    under_test, cleanup = await open_fresh_database(backend, tmp_path)
    settings = make_settings(tmp_path, under_test.settings.effective_database_url, **overrides)
    database = Database(under_test.engine, owns_engine=False)
    application = create_app(settings, database=database)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c, under_test, database
    finally:
        await cleanup()
