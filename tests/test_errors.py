"""Errors a visitor or an API client sees: one handler, HTML for people, problem JSON for /api."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import SessionDep
from app.handles.models import Handle


async def test_unknown_page_is_a_friendly_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/place")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "nothing at this address" in response.text


async def test_unknown_api_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nothing-here"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),  # FastAPI
        ("GET", "/@nobody"),  # the one link, answered in front of every other layer
        ("GET", "/p/no-such-page"),  # the one link's landing page address
        ("POST", "/p/no-such-page"),  # the opt-in form post's fast path
    ],
)
async def test_security_headers_on_every_response(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, data={"email": "a@example.com"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.fixture
async def probe_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus two probe routes that exercise the shared machinery."""
    router = APIRouter()

    @router.get("/api/v1/_probe/validation")
    async def validation(limit: int = Query(le=500)) -> dict[str, int]:
        return {"limit": limit}

    @router.post("/_probe/duplicate-handle")
    async def duplicate_handle(session: SessionDep) -> dict[str, str]:
        # Both rows are only flushed by the commit, so the commit itself fails.
        session.add(Handle(name="twin", display_name=""))
        session.add(Handle(name="twin", display_name=""))
        return {"status": "created"}

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_validation_error_names_the_field(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/_probe/validation", params={"limit": 9999})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["limit"]


async def test_a_failed_commit_is_never_a_2xx(
    probe_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    response = await probe_client.post("/_probe/duplicate-handle")
    assert response.status_code == 500
    count = await connection.scalar(select(func.count()).where(Handle.name == "twin"))
    assert count == 0
