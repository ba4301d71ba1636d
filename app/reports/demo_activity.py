"""Four weeks of plausible activity for the demo handle, so the first `make run` shows a report
with numbers in it: visits and previews (through the real visit writer, so the rollups equal the
raw rows), leads in every status, and daily social-metric snapshots.

The numbers come from a fixed seed, ending now, and small enough to write in well under a second.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import ConsentEvent, Lead, LeadStatus
from app.links.visits import VisitRecord, write_visits
from app.pages.models import Page
from app.reports.social_metrics import MetricSnapshot, upsert_social_metrics

__all__ = ["DEMO_DAYS", "DemoActivity", "seed_demo_activity"]

DEMO_DAYS = 28
SEED = 20261122

# source: (visits per day, visit-to-lead rate, in-app browser, device)
TRAFFIC: dict[str, tuple[int, float, str | None, str]] = {
    "instagram": (38, 0.09, "instagram", "mobile"),
    "tiktok": (30, 0.055, "tiktok", "mobile"),
    "youtube": (12, 0.12, None, "desktop"),
    "x": (7, 0.04, "twitter", "mobile"),
    "linkedin": (6, 0.1, "linkedin", "desktop"),
    "facebook": (4, 0.05, "facebook", "mobile"),
    "direct": (5, 0.14, None, "desktop"),
}
# platform: (likes per day, followers at the start, followers gained per day)
ACCOUNTS: dict[str, tuple[int, int, int]] = {
    "instagram": (1450, 12_400, 38),
    "tiktok": (2600, 8_900, 61),
    "youtube": (380, 3_150, 9),
    "x": (210, 2_700, 4),
    "linkedin": (160, 1_900, 6),
    "facebook": (95, 1_400, 1),
}
PREVIEW_AGENTS = ("facebookexternalhit", "Twitterbot", "Slackbot", "WhatsApp", "Discordbot")
FIRST_NAMES = ("ana", "ben", "chloe", "dev", "emma", "finn", "gia", "hugo", "iris", "jonas")


@dataclass(frozen=True, slots=True)
class DemoActivity:
    """How much was seeded."""

    visits: int
    leads: int
    snapshots: int


def _instant(rng: random.Random, day: date, tz: ZoneInfo, now: datetime) -> datetime | None:
    """A moment of `day` (busier in the evening), or None when it would be in the future."""
    hour = min(23, max(0, int(rng.gauss(19, 4))))
    local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tz)
    instant = local.astimezone(UTC)
    return instant if instant <= now else None


def _visit(
    handle: Handle,
    page: Page,
    source: str,
    *,
    at: datetime,
    tz: ZoneInfo,
    rng: random.Random,
    seen: list[str],
) -> VisitRecord:
    """A visit or (one in twenty) a link preview; some visitors come back the same day."""
    _rate, _lead_rate, in_app, device = TRAFFIC[source]
    preview = rng.random() < 0.05
    return VisitRecord(
        ref=secrets.token_urlsafe(12),
        created_at=at,
        day=at.astimezone(tz).date(),
        kind="preview" if preview else "visit",
        handle_id=handle.id,
        page_id=page.id,
        route_id=None,
        variant=None,
        source=source,
        medium="social" if source not in {"direct", "email"} else None,
        campaign=None,
        content=None,
        rule="in_app_browser" if in_app else "referrer" if source != "direct" else "direct",
        raw_source=None,
        referrer_host=None,
        in_app_browser=None if preview else in_app,
        agent=rng.choice(PREVIEW_AGENTS) if preview else None,
        device_class="bot" if preview else device,
        visitor_hash=_visitor(rng, seen),
    )


def _visitor(rng: random.Random, seen: list[str]) -> str:
    if seen and rng.random() < 0.15:
        return rng.choice(seen)
    visitor = f"{rng.getrandbits(128):032x}"
    seen.append(visitor)
    return visitor


def _lead(
    page: Page, visit: VisitRecord, number: int, now: datetime, rng: random.Random
) -> dict[str, Any]:
    created = visit.created_at + timedelta(minutes=rng.randrange(1, 15))
    created = min(created, now)
    confirmed_at = created + timedelta(minutes=rng.randrange(2, 600))
    confirmed = rng.random() < 0.72 and confirmed_at <= now
    customer_at = confirmed_at + timedelta(days=rng.uniform(0.5, 6))
    customer = confirmed and rng.random() < 0.09 and customer_at <= now
    unsubscribed = confirmed and not customer and rng.random() < 0.05
    status = (
        LeadStatus.CUSTOMER
        if customer
        else LeadStatus.UNSUBSCRIBED
        if unsubscribed
        else LeadStatus.CONFIRMED
        if confirmed
        else LeadStatus.PENDING
    )
    name = rng.choice(FIRST_NAMES)
    return {
        "page_id": page.id,
        "handle_id": page.handle_id,
        "email": f"{name}.{number}@example.com",
        "name": name.capitalize(),
        "fields": {},
        "status": status.value,
        "source": visit.source,
        "medium": visit.medium,
        "visit_ref": visit.ref,
        "created_at": created,
        "updated_at": max(
            created, customer_at if customer else confirmed_at if confirmed else created
        ),
        "confirmed_at": confirmed_at if confirmed else None,
        "confirmation_sent_at": created,
        "gift_sent_at": confirmed_at if confirmed else None,
        "unsubscribed_at": confirmed_at + timedelta(days=1) if unsubscribed else None,
        "customer_at": customer_at if customer else None,
        "customer_value": Decimal(rng.choice(("29.00", "49.00", "99.00"))) if customer else None,
        "customer_currency": "EUR" if customer else None,
    }


async def seed_demo_activity(
    session: AsyncSession,
    handle: Handle,
    page: Page,
    *,
    tz: str = "UTC",
    now: datetime | None = None,
    days: int = DEMO_DAYS,
) -> DemoActivity:
    """Write `days` days of visits, leads and social metrics for `handle`, ending `now`."""
    zone = ZoneInfo(tz)
    now = now or datetime.now(UTC)
    rng = random.Random(SEED)  # noqa: S311 - plausible numbers, not secrets
    today = now.astimezone(zone).date()
    records: list[VisitRecord] = []
    leads: list[dict[str, Any]] = []
    snapshots: list[MetricSnapshot] = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        growth = 0.75 + 0.5 * (days - back) / days  # the audience grows over the month
        weekend = 1.25 if day.weekday() >= 5 else 1.0
        for source, (per_day, lead_rate, _in_app, _device) in TRAFFIC.items():
            seen: list[str] = []
            count = round(per_day * growth * weekend * rng.uniform(0.7, 1.3))
            for _ in range(count):
                at = _instant(rng, day, zone, now)
                if at is None:
                    continue
                visit = _visit(handle, page, source, at=at, tz=zone, rng=rng, seen=seen)
                records.append(visit)
                if visit.kind == "visit" and rng.random() < lead_rate:
                    leads.append(_lead(page, visit, len(leads) + 1, now, rng))
        for platform, (likes, start_followers, gained) in ACCOUNTS.items():
            elapsed = days - back
            snapshots.append(
                MetricSnapshot(
                    handle_id=handle.id,
                    platform=platform,
                    day=day,
                    likes=round(likes * growth * weekend * rng.uniform(0.6, 1.4)),
                    followers=start_followers + gained * elapsed + rng.randrange(-5, 6),
                    impressions=round(likes * rng.uniform(14, 22)),
                    comments=round(likes * rng.uniform(0.02, 0.05)),
                    shares=round(likes * rng.uniform(0.005, 0.02)),
                )
            )
    # One batch: about 3,000 visits stay well within both drivers' limit of bound values.
    await write_visits(session, records)
    if leads:
        await session.execute(insert(Lead), leads)
        # Each lead's opt-in in the consent ledger, as the opt-in form would have written it.
        await session.execute(
            insert(ConsentEvent).from_select(
                ["lead_id", "kind", "consent_text", "consent_version", "checkbox", "source",
                 "created_at"],
                select(
                    Lead.id,
                    literal("opt_in"),
                    literal(page.consent_text),
                    literal(page.consent_version),
                    true(),
                    Lead.source,
                    Lead.created_at,
                ).where(Lead.page_id == page.id),
            )
        )  # fmt: skip
    await upsert_social_metrics(session, snapshots)
    return DemoActivity(visits=len(records), leads=len(leads), snapshots=len(snapshots))
