"""The demo a newcomer sees on the first `make run`: a handle, a published page, an API key and
an owner account for /admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import service as api_keys
from app.connections import service as connections
from app.connections.models import Provider
from app.db import utcnow
from app.email_tools import service as email_tools
from app.handles.models import Handle
from app.links import service as links
from app.pages import service as pages
from app.pages.models import GiftKind
from app.pages.schemas import PageCreate
from app.platforms import youtube
from app.reports.demo_activity import seed_demo_activity
from app.shop import service as shop
from app.shop.events import Purchase, Received
from app.users import service as users
from app.users.models import User

__all__ = ["DEMO_HANDLE", "DEMO_OWNER_EMAIL", "DemoSeed", "seed_demo"]

DEMO_HANDLE = "demo"
DEMO_OWNER_EMAIL = "owner@demo.local"
DEMO_CHANNEL_ID = "UC" + "demo" * 5 + "xx"  # the shape of a channel id (24 characters)
DEMO_BODY = """One page, **seven habits** that turn followers into subscribers:

- what to post on which day,
- how to point every post at one link,
- and how to tell which platform brings the leads.
"""
DEMO_GIFT = """Day 1: pick one promise for your audience.
Day 2: put one link in every bio.
Day 3: post one useful tip and point to the link.
Day 4: answer every comment with a question.
Day 5: share one result from a follower.
Day 6: ask for a reply.
Day 7: look at your like-to-lead report."""


@dataclass(frozen=True, slots=True)
class DemoSeed:
    created: bool
    api_key_secret: str | None
    # Set only on the run that created the owner account: the password is shown once.
    owner_password: str | None = None


async def _seed_owner(session: AsyncSession) -> str | None:
    """An owner account to sign in to /admin with, while the instance has none."""
    if await session.scalar(select(User.id).limit(1)) is not None:
        return None
    password = users.generate_password()
    await users.create_user(session, DEMO_OWNER_EMAIL, password)
    return password


async def _seed_shop(session: AsyncSession, handle: Handle) -> None:
    """A Stripe connection waiting for its signing secret, with what a shop sends: a sale to
    someone who is no lead yet, and an event that is not a sale."""
    connection, _ = await connections.create_connection(
        session,
        provider=Provider.STRIPE.value,
        label="Demo store",
        handle_ids=frozenset({handle.id}),
        secret=None,
        options={},
        created_by=None,
        cipher=None,
    )
    sale = Purchase("buyer@example.com", Decimal("29.00"), "EUR", utcnow())
    await shop.take_in(
        session, connection, Received("evt_demo_sale", "checkout.session.completed", sale)
    )
    refund = Received("evt_demo_refund", "charge.refunded", note="Not a sale (charge.refunded).")
    await shop.take_in(session, connection, refund)


async def _seed_waiting_connections(session: AsyncSession, handle: Handle) -> None:
    """The funnel's other ends as an owner first meets them: a YouTube channel and a Mailchimp
    audience connected but waiting for the key the owner pastes on their pages (nothing is
    fetched or sent meanwhile)."""
    waiting = (
        (Provider.YOUTUBE, "Demo channel", {youtube.CHANNEL_ID: DEMO_CHANNEL_ID}),
        (
            Provider.MAILCHIMP,
            "Demo audience",
            email_tools.tool_options("mailchimp", list_id="a1b2c3d4e5", tags="", gift_list=False),
        ),
    )
    for provider, label, options in waiting:
        await connections.create_connection(
            session,
            provider=provider.value,
            label=label,
            handle_ids=frozenset({handle.id}),
            secret=None,
            options=options,
            created_by=None,
            cipher=None,
        )


async def seed_demo(session: AsyncSession, *, report_tz: str = "UTC") -> DemoSeed:
    """Create the demo once, with four weeks of plausible activity (days in `report_tz`) so its
    report has numbers; a second call finds it and creates nothing."""
    owner_password = await _seed_owner(session)
    if await session.scalar(select(Handle.id).where(Handle.name == DEMO_HANDLE)) is not None:
        return DemoSeed(created=False, api_key_secret=None, owner_password=owner_password)
    handle = await links.create_handle(session, DEMO_HANDLE, display_name="Demo Creator")
    page = await pages.create_page(
        session,
        handle,
        PageCreate(
            slug="demo",
            title="The 7-day content checklist",
            headline="Get the free 7-day content checklist",
            body=DEMO_BODY,
            gift_kind=GiftKind.TEXT,
            gift_title="The 7-day content checklist",
            gift_value=DEMO_GIFT,
            consent_text="Send me the checklist and the occasional tip. Unsubscribe any time.",
            og_description="Seven habits that turn followers into subscribers. Free.",
        ),
    )
    await pages.publish_page(session, page)
    await seed_demo_activity(session, handle, page, tz=report_tz)
    await _seed_shop(session, handle)
    await _seed_waiting_connections(session, handle)
    issued = await api_keys.create_api_key(
        session, name="demo (all scopes)", scopes=api_keys.SCOPES
    )
    return DemoSeed(created=True, api_key_secret=issued.secret, owner_password=owner_password)
