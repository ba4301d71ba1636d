"""Builders of test data, one place for every folder: handles, pages, leads, visits, API keys,
report numbers, queued emails and webhook endpoints. Each writes through the session it is given
(flushing, not committing) unless it says otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import migrations
from app.api_keys import service as api_keys
from app.db import Database, utcnow
from app.delivery import service as outbox
from app.delivery.models import OutboxMessage
from app.handles.models import Handle
from app.leads.forms import OptInForm
from app.leads.models import Lead, LeadStatus
from app.links import service as links
from app.links.models import VisitRollup
from app.links.visits import VisitRecord
from app.pages import service as pages
from app.pages.models import Page
from app.pages.schemas import PageCreate
from app.reports.models import SocialMetric
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpoint
from app.webhooks.signing import cipher_for
from tests.databases import TEST_SECRET

OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# Handles and pages


async def add_handle(session: AsyncSession, name: str) -> Handle:
    return await links.create_handle(session, name)


async def add_page(session: AsyncSession, handle: Handle, slug: str, **values: Any) -> Page:
    values.setdefault("title", f"Page {slug}")
    values.setdefault("status", "published")
    page = Page(handle_id=handle.id, slug=slug, **values)
    session.add(page)
    await session.flush()
    return page


async def create_published_page(session: AsyncSession, handle: Handle, slug: str) -> Page:
    """A page made and published by the service, as the API would."""
    page = await pages.create_page(session, handle, slug=slug, title=slug.title())
    return await pages.publish_page(session, page)


async def seed_demo_page(engine: AsyncEngine) -> None:
    """Migrate, then commit a handle `demo` with one published page and nothing else (the demo
    seed may bring sample visits of its own)."""
    await migrations.upgrade(engine)
    async with AsyncSession(engine) as session:
        handle = await links.create_handle(session, "demo")
        page = await pages.create_page(session, handle, slug="demo", title="Free checklist")
        await pages.publish_page(session, page)
        await session.commit()


# Leads


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


async def insert_lead(
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
    lead_id: int | None = await session.scalar(
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


def opt_in_form(email: str, name: str = "Fan") -> OptInForm:
    return OptInForm(
        email=email,
        name=name,
        consent=True,
        fields={},
        attribution_token="",
        honeypot_filled=False,
    )


# Visits and report numbers


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


# API keys and the API tests' world


async def issue_key(
    session: AsyncSession, scopes: Sequence[str], handles: Sequence[Handle] = ()
) -> str:
    issued = await api_keys.create_api_key(session, name="test", scopes=scopes, handles=handles)
    return issued.secret


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


async def build_world(session: AsyncSession) -> World:
    """Two handles, each with a page and a lead, and keys of every kind (committed)."""
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


async def build_detached_world(session: AsyncSession) -> World:
    """`build_world`, its handles, pages and leads then detached with their values loaded: a
    test expires the session to read what a request or a worker wrote, and these stay as built."""
    world = await build_world(session)
    for thing in (world.anna, world.bob, world.anna_page, world.bob_page):
        session.expunge(thing)
    for lead in (world.anna_lead, world.bob_lead):
        session.expunge(lead)
    return world


# Queued email and webhook endpoints


PING = {"note": "Checking the pipes.", "link": "http://127.0.0.1:8000/p/demo"}


async def enqueue_ping(
    db: Database, to: str = "ann@example.com", *, lead_id: int | None = None, **context: Any
) -> int:
    """Queue the ping email and commit; returns the message id."""
    async with db.session() as session:
        message = await outbox.enqueue_email(
            session, to=to, template="ping", context={**PING, **context}, lead_id=lead_id
        )
        await session.commit()
        return message.id


async def load_message(db: Database, message_id: int) -> OutboxMessage:
    async with db.session(write=False) as session:
        message = await session.get(OutboxMessage, message_id)
        assert message is not None
        return message


async def add_endpoint(
    session: AsyncSession,
    url: str,
    *,
    events: tuple[str, ...] = (),
    handles: frozenset[int] | None = None,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint made by the service (as the API would), and its signing secret."""
    return await webhooks.create_endpoint(
        session,
        url=url,
        event_types=events,
        description="test",
        visible=handles,
        cipher=cipher_for(TEST_SECRET),
        allow_private=True,
    )
