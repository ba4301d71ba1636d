"""A published landing page is shown at /p/{slug}; drafts and unknown slugs are 404 pages."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.links import service as links
from app.pages import service as pages


async def test_published_page_is_rendered(client: httpx.AsyncClient, session: AsyncSession) -> None:
    handle = await links.create_handle(session, "anna")
    page = await pages.create_page(
        session, handle, slug="free-guide", title="Free guide", headline="Grab <the> guide"
    )
    await pages.publish_page(session, page)
    await session.commit()

    response = await client.get("/p/free-guide")
    assert response.status_code == 200
    assert "Grab &lt;the&gt; guide" in response.text
    assert '<meta property="og:title" content="Free guide">' in response.text


async def test_draft_page_is_not_shown(client: httpx.AsyncClient, session: AsyncSession) -> None:
    handle = await links.create_handle(session, "bob")
    await pages.create_page(session, handle, slug="secret-draft", title="Draft")
    await session.commit()

    response = await client.get("/p/secret-draft")
    assert response.status_code == 404
    assert "no page at this link" in response.text
