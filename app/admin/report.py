"""The report page, `/admin/report`: the per-source table, totals and charts of one range, its
date presets, the platforms still missing likes and the A/B section."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from app.admin import report_page
from app.admin.dependencies import OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router
from app.db import SessionDep
from app.handles import service as handles

__all__ = ["router"]

router = owner_router("/report")


@router.get("")
async def report(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    handle: Annotated[str | None, Query(max_length=30)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    visible_handles = await handles.list_handles(session, sight=owner.sight)
    today = report_page.today_in(settings.report_tz)
    filters = report_page.parse_filters(
        handle=handle, raw_from=start, raw_to=end, handles=visible_handles, today=today
    )
    view = await report_page.build_report_view(
        session, filters, tz=settings.report_tz, sight=owner.sight, handles=visible_handles
    )
    return admin_page(
        request,
        owner,
        "admin/report.html",
        active="report",
        handles=visible_handles,
        filters=filters,
        presets=report_page.presets(filters, today),
        view=view,
        tz=settings.report_tz,
    )
