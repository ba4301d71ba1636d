"""Helpers of the admin tests: signing in through the real form, and seeding report numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import Lead, LeadStatus
from app.links import service as links
from app.links.models import VisitRollup
from app.pages import service as pages
from app.pages.schemas import PageCreate
from app.reports.models import SocialMetric

OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD
) -> httpx.Response:
    form = await client.get("/admin/login")
    assert form.status_code == 200
    return await client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(form.text)},
    )


@dataclass(frozen=True, slots=True)
class DayNumbers:
    """One day of one source: visits, leads (of which confirmed and customers) and likes."""

    day: date
    source: str
    visits: int = 0
    leads: int = 0
    confirmed: int = 0
    customers: int = 0
    likes: int | None = None


async def seed_handle(session: AsyncSession, name: str) -> tuple[Handle, int]:
    handle = await links.create_handle(session, name, display_name=name.title())
    page = await pages.create_page(
        session,
        handle,
        PageCreate(slug=f"{name}-guide", title="A guide", headline="Get the guide"),
    )
    return handle, page.id


async def seed_numbers(
    session: AsyncSession, handle: Handle, page_id: int, numbers: list[DayNumbers]
) -> None:
    """Rollups, leads and social metrics as the report reads them."""
    for index, entry in enumerate(numbers):
        if entry.visits:
            session.add(
                VisitRollup(
                    day=entry.day,
                    handle_id=handle.id,
                    page_id=page_id,
                    source=entry.source,
                    visits=entry.visits,
                    unique_visitors=entry.visits,
                    previews=0,
                )
            )
        if entry.likes is not None:
            session.add(
                SocialMetric(
                    handle_id=handle.id,
                    platform=entry.source,
                    day=entry.day,
                    likes=entry.likes,
                    followers=entry.likes * 10,
                )
            )
        created = datetime.combine(entry.day, time(12), tzinfo=UTC)
        for n in range(entry.leads):
            status = (
                LeadStatus.CUSTOMER
                if n < entry.customers
                else LeadStatus.CONFIRMED
                if n < entry.confirmed
                else LeadStatus.PENDING
            )
            session.add(
                Lead(
                    page_id=page_id,
                    handle_id=handle.id,
                    email=f"lead{index}-{n}@{handle.name}.example",
                    fields={},
                    status=status.value,
                    source=entry.source,
                    created_at=created,
                    updated_at=created,
                    confirmed_at=created if n < entry.confirmed else None,
                    customer_at=created + timedelta(days=1) if n < entry.customers else None,
                )
            )
    await session.flush()
