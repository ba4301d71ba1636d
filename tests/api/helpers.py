"""Shared helpers of the API tests: the OpenAPI document as a client downloads it (from an app
that needs no database for it)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from app.config import load_settings
from app.main import create_app

__all__ = ["fetch_openapi"]


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
