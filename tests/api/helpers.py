"""Shared helpers of the API tests: the `world` fixture's type, and the OpenAPI document as a
client downloads it (from an app that needs no database for it)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import service as api_keys
from app.config import load_settings
from app.handles.models import Handle
from app.leads.models import Lead
from app.main import create_app
from app.pages.models import Page

__all__ = ["World", "fetch_openapi"]


@dataclass
class World:
    """Two handles, each with a page and a lead, and keys of every kind."""

    anna: Handle
    bob: Handle
    anna_page: Page
    bob_page: Page
    anna_lead: Lead
    bob_lead: Lead
    keys: dict[str, str]

    async def key_id(self, session: AsyncSession, name: str) -> int:
        found = await api_keys.find_active_key(session, self.keys[name])
        assert found is not None
        return found.id


async def fetch_openapi(data_dir: Path) -> dict[str, Any]:
    """`GET /openapi.json` of an app that was never started (the document needs no database)."""
    settings = load_settings(
        env="test",
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'unused.db'}",
        secret_key=secrets.token_urlsafe(48),
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/openapi.json")
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document
