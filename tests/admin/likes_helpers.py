"""Shared by the tests of `/admin/likes/upload` (the CLI's CSV, and the platforms' own exports):
a file posted through the form as the admin posts it, and how many days of numbers are kept."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.models import SocialMetric
from tests.admin.admin_helpers import csrf_from


async def upload(
    client: httpx.AsyncClient,
    content: str | bytes,
    *,
    handle: str = "anna",
    export_format: str | None = None,
    name: str = "likes.csv",
) -> httpx.Response:
    """`content` sent with the upload form of `/admin/likes`, its CSRF token read from the page;
    `export_format` is the form's format choice (left out: the form's default, detect)."""
    page = await client.get("/admin/likes")
    data = {"csrf_token": csrf_from(page.text), "handle": handle}
    if export_format is not None:
        data["format"] = export_format
    raw = content.encode() if isinstance(content, str) else content
    return await client.post(
        "/admin/likes/upload", data=data, files={"file": (name, raw, "text/csv")}
    )


async def stored_days(session: AsyncSession) -> int:
    """How many rows of numbers (a handle's platform on a day) leadlink keeps."""
    return int(await session.scalar(select(func.count()).select_from(SocialMetric)) or 0)
