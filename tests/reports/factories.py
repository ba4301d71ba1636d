"""Small factories for report tests: handles, pages, visits (through the real writer), leads."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import Lead
from app.links import service as links
from app.links.visits import VisitRecord
from app.pages import service as pages
from app.pages.models import Page


async def make_handle(session: AsyncSession, name: str) -> Handle:
    return await links.create_handle(session, name)


async def make_page(session: AsyncSession, handle: Handle, slug: str) -> Page:
    page = await pages.create_page(session, handle, slug=slug, title=slug.title())
    return await pages.publish_page(session, page)


def make_visit(
    handle_id: int,
    page_id: int | None,
    created_at: datetime,
    tz: ZoneInfo,
    *,
    kind: str = "visit",
    source: str = "instagram",
    visitor: str | None = None,
    route_id: int | None = None,
    variant: str | None = None,
) -> VisitRecord:
    """A visit as the one link records it: `day` is its local day in the report time zone."""
    return VisitRecord(
        ref=secrets.token_urlsafe(12),
        created_at=created_at,
        day=created_at.astimezone(tz).date(),
        kind=kind,
        handle_id=handle_id,
        page_id=page_id,
        route_id=route_id,
        variant=variant,
        source=source,
        medium=None,
        campaign=None,
        content=None,
        rule="path",
        raw_source=None,
        referrer_host=None,
        in_app_browser=None,
        agent="Slackbot" if kind == "preview" else None,
        device_class="mobile",
        visitor_hash=visitor or secrets.token_hex(16),
    )


async def add_lead(
    session: AsyncSession,
    page: Page,
    created_at: datetime,
    *,
    source: str = "instagram",
    status: str = "pending",
    confirmed_at: datetime | None = None,
    customer_at: datetime | None = None,
    route_id: int | None = None,
    variant: str | None = None,
    erased: bool = False,
) -> int:
    """Insert a lead row directly (the opt-in flow has its own tests); returns its id."""
    lead_id = await session.scalar(
        insert(Lead)
        .values(
            page_id=page.id,
            handle_id=page.handle_id,
            email=f"{secrets.token_hex(6)}@example.com",
            name=None if erased else "Ada",
            fields={},
            status=status,
            source=source,
            route_id=route_id,
            variant=variant,
            created_at=created_at,
            updated_at=created_at,
            confirmed_at=confirmed_at,
            customer_at=customer_at,
            customer_value=Decimal("49.00") if customer_at else None,
            erased_at=created_at if erased else None,
        )
        .returning(Lead.id)
    )
    assert lead_id is not None
    return lead_id
