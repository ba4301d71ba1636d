"""`/api/v1/reports` (the conversion report and A/B variants, scope `reports:read`) and
`/api/v1/social-metrics` (upsert snapshots with `pages:write`, list them with `reports:read`).
The rules live in `app.reports.service`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from app.api_keys.dependencies import ApiCaller, require_scope
from app.config import Settings
from app.db import SessionDep
from app.openapi import problem_responses
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link
from app.reports import service as reports
from app.reports import social_metrics, variants
from app.reports.schemas import (
    ConversionReportRead,
    GroupByName,
    IsoDate,
    MetricUpsertResult,
    PlatformName,
    SocialMetricBatch,
    SocialMetricList,
    SocialMetricRead,
    VariantReportRead,
)
from app.reports.timezones import zone

__all__ = ["DEFAULT_DAYS", "router"]

DEFAULT_DAYS = 28

router = APIRouter(tags=["reports"])

ReportsReadKey = Annotated[ApiCaller, Depends(require_scope("reports:read"))]
# Social metrics describe the owner's own accounts, like pages and handles do: writing them is
# the owner's side (`pages:write`), not a CRM's lead sync (`leads:write`).
MetricsWriteKey = Annotated[ApiCaller, Depends(require_scope("pages:write"))]

HandleQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=31,
          description="A handle's name; omit for every handle you can see.",
          examples=["anna"]),
]  # fmt: skip
PageQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=64,
          description="A page's slug: the report of one landing page.",
          examples=["free-guide"]),
]  # fmt: skip
FromQuery = Annotated[
    IsoDate | None,
    Query(alias="from", description=f"First day (YYYY-MM-DD, inclusive, in the instance's "
          f"report time zone); default: {DEFAULT_DAYS - 1} days before `to`.",
          examples=["2026-11-01"]),
]  # fmt: skip
ToQuery = Annotated[
    IsoDate | None,
    Query(alias="to", description="Last day (inclusive); default: today. At most "
          f"{reports.MAX_RANGE_DAYS} days after `from`.", examples=["2026-11-22"]),
]  # fmt: skip


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _range(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    end = end or datetime.now(zone(settings.report_tz)).date()
    # The default start never falls before the first day a report can cover.
    start = start or max(reports.FIRST_DAY, end - timedelta(days=DEFAULT_DAYS - 1))
    reports.check_range(start, end)
    return start, end


_CSV_EXAMPLE = (
    "source,likes,followers,visits,unique_visitors,previews,leads,confirmed_leads,customers,"
    "visit_to_lead,like_to_lead,lead_to_customer\r\n"
    "instagram,12840,5210,1450,1302,96,187,151,12,0.128966,0.014564,0.064171\r\n"
    "total,12840,5210,1450,1302,96,187,151,12,0.128966,0.014564,0.064171\r\n"
)


@router.get(
    "/reports/conversion",
    operation_id="reports-conversion",
    response_model=ConversionReportRead,
    response_model_exclude_unset=True,
    summary="The like-to-lead report",
    description=(
        "Per source (or day, ISO week, page, or source and day): likes, followers, visits, "
        "unique visitors, previews, leads, confirmed leads, customers and the three rates. "
        "Leads count on the day they were created, and so do their confirmations and "
        "purchases (a cohort view). Days are those of the instance's `LEADLINK_REPORT_TZ`. "
        "`format=csv` answers the same rows as CSV with a closing `total` line."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}}},
        **problem_responses(404, 422),
    },
)
async def conversion_report(
    *,
    session: SessionDep,
    caller: ReportsReadKey,
    settings: SettingsDep,
    handle: HandleQuery = None,
    page: PageQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    group_by: Annotated[
        GroupByName, Query(description="How rows are grouped.", examples=["source"])
    ] = "source",
    source: Annotated[
        PlatformName | None, Query(description="Only this source.", examples=["instagram"])
    ] = None,
    output: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="`json` or `csv`.", examples=["json"]),
    ] = "json",
) -> ConversionReportRead | Response:
    start, end = _range(settings, start, end)
    found_handle, found_page = await reports.resolve_scope(
        session, visible=caller.handle_ids, handle=handle, page=page
    )
    report = await reports.conversion_report(
        session,
        handle=found_handle,
        page=found_page,
        start=start,
        end=end,
        group_by=group_by,
        source=source,
        tz=settings.report_tz,
        handle_ids=caller.handle_ids,
    )
    if output == "csv":
        filename = f"leadlink-report-{start.isoformat()}-{end.isoformat()}.csv"
        return PlainTextResponse(
            reports.report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return ConversionReportRead.from_report(report)


@router.get(
    "/reports/variants",
    operation_id="reports-variants",
    response_model=VariantReportRead,
    summary="A/B variants of a handle's routing",
    description=(
        "Per variant (route), per visitor source and over all sources: visits, leads, the "
        "visit-to-lead rate with its 95 % Wilson interval, and the probability that the variant "
        "has the best rate of the routes it competes with (Beta-Binomial posterior, Monte Carlo "
        "with a fixed seed: the same counts always give the same answer)."
    ),
    responses=problem_responses(404, 422),
)
async def variant_report(
    *,
    session: SessionDep,
    caller: ReportsReadKey,
    settings: SettingsDep,
    handle: Annotated[
        str, Query(min_length=1, max_length=31, description="A handle's name.", examples=["anna"])
    ],
    start: FromQuery = None,
    end: ToQuery = None,
) -> VariantReportRead:
    start, end = _range(settings, start, end)
    found, _page = await reports.resolve_scope(
        session, visible=caller.handle_ids, handle=handle, page=None
    )
    assert found is not None
    return VariantReportRead.from_report(
        await variants.variant_report(session, found, start, end, tz=settings.report_tz)
    )


@router.post(
    "/social-metrics",
    operation_id="social-metrics-upsert",
    response_model=MetricUpsertResult,
    summary="Send social-metric snapshots",
    description=(
        "Up to 1,000 daily snapshots per request, stored idempotently by (handle, platform, "
        "date): sending one again changes nothing, a number you send replaces the stored one, "
        "and a number you leave out stays as it was. An unknown handle (or one out of the "
        "key's sight) rejects the whole batch with 404 before anything is stored."
    ),
    responses=problem_responses(404, 422),
)
async def upsert_social_metrics(
    session: SessionDep, caller: MetricsWriteKey, snapshots: Annotated[SocialMetricBatch, Body()]
) -> MetricUpsertResult:
    upserted = await social_metrics.upsert_named_social_metrics(
        session, [item.model_dump() for item in snapshots], visible=caller.handle_ids
    )
    return MetricUpsertResult(upserted=upserted)


@router.get(
    "/social-metrics",
    operation_id="social-metrics-list",
    response_model=SocialMetricList,
    summary="List social-metric snapshots",
    description='Keyset pages ordered by date; follow `next_cursor` (or `Link: rel="next"`).',
    responses=problem_responses(404, 422),
)
async def list_social_metrics(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: ReportsReadKey,
    codec: CursorCodecDep,
    handle: HandleQuery = None,
    platform: Annotated[
        PlatformName | None, Query(description="Only this platform.", examples=["tiktok"])
    ] = None,
    start: Annotated[
        IsoDate | None, Query(alias="from", description="First date.", examples=["2026-11-01"])
    ] = None,
    end: Annotated[
        IsoDate | None, Query(alias="to", description="Last date.", examples=["2026-11-22"])
    ] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> SocialMetricList:
    found, _page = await reports.resolve_scope(
        session, visible=caller.handle_ids, handle=handle, page=None
    )
    page = await social_metrics.list_social_metrics(
        session,
        visible=caller.handle_ids,
        codec=codec,
        handle_id=found.id if found else None,
        platform=platform,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    response.headers.update(next_link(request, page.next_cursor))
    return SocialMetricList(
        items=[SocialMetricRead.from_row(metric, name) for metric, name in page.items],
        next_cursor=page.next_cursor,
    )
