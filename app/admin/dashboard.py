"""The dashboard, `/admin`: where an owner lands after signing in. Per handle in sight, the one
link and the per-platform links ready to copy with their QR codes; the report's headline numbers
of the last 30 days; and, while something is missing, the next step (a handle, a page, likes).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.admin import handle_page, report_page
from app.admin.dependencies import OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router
from app.db import SessionDep
from app.dependencies import BaseUrlDep
from app.handles import service as handles
from app.handles.models import Handle
from app.pages import service as pages
from app.pages.models import PageStatus
from app.reports import charts
from app.reports import service as reports

__all__ = ["router"]

router = owner_router()

HEADLINES = (
    ("likes", "Likes"),
    ("visits", "Visits"),
    ("leads", "Leads"),
    ("like_to_lead", "Like → lead"),
    ("customers", "Customers"),
)


@dataclass(frozen=True, slots=True)
class HandleCard:
    handle: Handle
    one_link: handle_page.LinkView
    platform_links: list[handle_page.LinkView]
    published_pages: int


@router.get("")
async def dashboard(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
) -> HTMLResponse:
    visible = await handles.list_handles(session, sight=owner.sight)
    cards = []
    for handle in visible:
        one_link, platform_links = handle_page.links_of(base_url, handle.name)
        published = [
            page
            for page in await pages.list_pages(session, handle)
            if page.status == PageStatus.PUBLISHED.value
        ]
        cards.append(HandleCard(handle, one_link, platform_links, len(published)))
    start, end = handle_page.last_days(report_page.today_in(settings.report_tz))
    totals = (
        await reports.conversion_report(
            session,
            handle=None,
            page=None,
            start=start,
            end=end,
            tz=settings.report_tz,
            handle_ids=sorted(owner.sight) if owner.sight is not None else None,
        )
    ).totals
    headlines = [
        (
            label,
            charts.format_rate(getattr(totals, name))
            if name == "like_to_lead"
            else charts.format_count(getattr(totals, name)),
        )
        for name, label in HEADLINES
    ]
    return admin_page(
        request,
        owner,
        "admin/dashboard.html",
        active="dashboard",
        cards=cards,
        headlines=headlines,
        has_likes=totals.likes is not None,
        start=start,
        end=end,
        days=handle_page.RESULT_DAYS,
    )
