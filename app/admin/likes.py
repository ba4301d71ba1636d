"""The likes page, `/admin/likes`: a day's numbers per platform for a handle, typed into a form or
uploaded (the CSV the CLI imports, or a platform's own analytics export), and the last 30 days.

The numbers are checked and stored by `app.reports.social_metrics` and
`app.reports.platform_exports`, the same functions the API and `leadlink metrics import` use;
this module only reads the form and lays out the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import report_page
from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.db import SessionDep
from app.handles import service as handles
from app.handles.models import Handle
from app.handles.visibility import find_visible_handle
from app.links.sources import CANONICAL_SOURCES
from app.pagination import CursorCodecDep
from app.reports import platform_exports, social_metrics
from app.reports.models import METRIC_FIELDS, SocialMetric

__all__ = ["MAX_CSV_BYTES", "router"]

router = owner_router("/likes")

MAX_CSV_BYTES = 2 * 1024 * 1024
# The multipart envelope and the other fields around the file.
UPLOAD_OVERHEAD_BYTES = 16 * 1024
RECENT_DAYS = 30
# Platforms that have no likes to enter: not rows of the form.
PLATFORMS = tuple(p for p in CANONICAL_SOURCES if p not in report_page.SOURCES_WITHOUT_LIKES)
LABELS = {name: name.capitalize() for name in METRIC_FIELDS}


@dataclass
class DayForm:
    """The form's values as typed (strings) and the errors by input name."""

    day: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _sentence(exc: ValueError) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


def input_name(platform: str, metric: str) -> str:
    return f"{platform}-{metric}"


def _stored_form(day: date, stored: Sequence[SocialMetric]) -> DayForm:
    values = {
        input_name(row.platform, name): str(getattr(row, name))
        for row in stored
        for name in METRIC_FIELDS
        if getattr(row, name) is not None
    }
    return DayForm(day.isoformat(), values)


def parse_day_form(
    handle_id: int, raw_day: str, values: Mapping[str, str]
) -> tuple[DayForm, list[social_metrics.MetricSnapshot], date | None]:
    """The snapshots a submitted form stands for (a platform with no number is left out), or
    the form with its errors: a number is checked as the CSV import checks it."""
    form = DayForm(raw_day.strip(), {k: v for k, v in values.items() if v.strip()})
    day: date | None = None
    try:
        day = social_metrics.parse_metric_day(raw_day)
    except ValueError as exc:
        form.errors["date"] = _sentence(exc) + "."
    snapshots = []
    for platform in PLATFORMS:
        numbers: dict[str, int | None] = {}
        for name in METRIC_FIELDS:
            key = input_name(platform, name)
            try:
                numbers[name] = social_metrics.parse_metric_number(values.get(key, ""), name)
            except ValueError as exc:
                form.errors[key] = f"{platform}: {exc}."
        if day is not None and any(v is not None for v in numbers.values()):
            snapshots.append(social_metrics.MetricSnapshot(handle_id, platform, day, **numbers))
    return form, snapshots, day


def _likes_url(handle: Handle | None, day: date | str | None = None) -> str:
    query = {"handle": handle.name} if handle is not None else {}
    if day is not None:
        query["date"] = str(day)
    return "/admin/likes" + (f"?{urlencode(query)}" if query else "")


async def _page(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    codec: CursorCodecDep,
    *,
    today: date,
    visible: Sequence[Handle],
    handle: Handle | None,
    form: DayForm,
    upload_errors: Sequence[tuple[int, str]] = (),
    upload_problem: str | None = None,
    chosen_format: str = platform_exports.DETECT,
    status_code: int = 200,
) -> HTMLResponse:
    recent: list[SocialMetric] = []
    if handle is not None:
        page = await social_metrics.list_social_metrics(
            session,
            visible=owner.sight,
            codec=codec,
            handle_id=handle.id,
            start=today - timedelta(days=RECENT_DAYS - 1),
            end=today,
            limit=RECENT_DAYS * len(CANONICAL_SOURCES),
        )
        recent = [metric for metric, _name in reversed(page.items)]
    return admin_page(
        request,
        owner,
        "admin/likes.html",
        active="likes",
        status_code=status_code,
        handles=visible,
        handle=handle,
        form=form,
        platforms=PLATFORMS,
        metrics=METRIC_FIELDS,
        labels=LABELS,
        input_name=input_name,
        recent=recent,
        recent_days=RECENT_DAYS,
        upload_errors=upload_errors,
        upload_problem=upload_problem,
        csv_header=",".join(social_metrics.CSV_COLUMNS),
        handle_column=social_metrics.HANDLE_COLUMN,
        max_csv_megabytes=MAX_CSV_BYTES // (1024 * 1024),
        formats=platform_exports.format_choices(),
        chosen_format=chosen_format,
    )


async def _chosen(
    session: AsyncSession, owner: Owner, name: str | None, visible: Sequence[Handle]
) -> Handle | None:
    """The handle named (a 404 when it is unknown or out of sight), else the first visible."""
    if name:
        return await find_visible_handle(session, name, owner.sight, field="handle")
    return visible[0] if visible else None


@router.get("")
async def likes(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    codec: CursorCodecDep,
    handle: Annotated[str | None, Query(max_length=30)] = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
) -> HTMLResponse:
    visible = await handles.list_handles(session, sight=owner.sight)
    today = report_page.today_in(settings.report_tz)
    chosen = await _chosen(session, owner, handle, visible)
    try:
        shown = social_metrics.parse_metric_day(day) if day else today
        note = None
    except ValueError as exc:
        shown, note = today, _sentence(exc) + "; showing today."
    stored: list[SocialMetric] = []
    if chosen is not None:
        page = await social_metrics.list_social_metrics(
            session, visible=owner.sight, codec=codec, handle_id=chosen.id, start=shown, end=shown
        )
        stored = [metric for metric, _name in page.items]
    form = _stored_form(shown, stored)
    if note:
        form.errors["date"] = note
    return await _page(
        request, session, owner, codec, today=today, visible=visible, handle=chosen, form=form
    )


@router.post("")
async def save_day(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    codec: CursorCodecDep,
) -> Response:
    submitted = await request.form()
    values = {key: str(value)[:40] for key, value in submitted.items() if isinstance(value, str)}
    visible = await handles.list_handles(session, sight=owner.sight)
    handle = await find_visible_handle(
        session, values.get("handle", ""), owner.sight, field="handle"
    )
    form, snapshots, day = parse_day_form(handle.id, values.get("date", ""), values)
    if form.errors or day is None:
        return await _page(
            request,
            session,
            owner,
            codec,
            today=report_page.today_in(settings.report_tz),
            visible=visible,
            handle=handle,
            form=form,
            status_code=422,
        )
    await social_metrics.replace_day_metrics(session, handle.id, day, snapshots)
    platforms = len(snapshots)
    message = (
        f"Saved {day.isoformat()} for @{handle.name}: {platforms} platform"
        f"{'' if platforms == 1 else 's'}."
    )
    return redirect_with_flash(request, _likes_url(handle, day), message)


@router.post("/upload", max_body_size=MAX_CSV_BYTES + UPLOAD_OVERHEAD_BYTES)
async def upload_csv(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    codec: CursorCodecDep,
    handle: Annotated[str, Form(max_length=30)] = "",
    export_format: Annotated[str, Form(alias="format", max_length=40)] = platform_exports.DETECT,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    visible = await handles.list_handles(session, sight=owner.sight)
    chosen = await find_visible_handle(session, handle, owner.sight, field="handle")
    today = report_page.today_in(settings.report_tz)
    raw = await file.read(MAX_CSV_BYTES + 1) if file is not None else b""
    known = dict(platform_exports.format_choices())

    async def refused(
        problem: str | None, errors: Sequence[tuple[int, str]], status: int
    ) -> HTMLResponse:
        return await _page(
            request,
            session,
            owner,
            codec,
            today=today,
            visible=visible,
            handle=chosen,
            form=DayForm(today.isoformat()),
            upload_errors=errors,
            upload_problem=problem,
            chosen_format=export_format if export_format in known else platform_exports.DETECT,
            status_code=status,
        )

    if export_format not in known:
        return await refused("Choose the file's format from the list.", (), 422)
    if len(raw) > MAX_CSV_BYTES:
        return await refused(
            f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; split it.", (), 413
        )
    if not raw:
        return await refused("Choose a CSV file to upload.", (), 422)
    try:
        text = platform_exports.decode_export(raw)
    except UnicodeDecodeError:
        return await refused(
            "The file is not UTF-8 or UTF-16 text; upload the CSV as the platform gave it, "
            "or save it as CSV (UTF-8).",
            (),
            422,
        )
    result = await platform_exports.import_metrics_file(
        session, chosen, text, chosen=export_format, today=today, visible=owner.sight
    )
    if result.errors:
        return await refused(None, result.errors, 422)
    return redirect_with_flash(request, _likes_url(chosen), _imported_message(result, chosen))


def _imported_message(result: platform_exports.FileImport, handle: Handle) -> str:
    count = result.imported
    if result.platform is None:
        return f"Imported {count} line{'' if count == 1 else 's'} of numbers. Nothing was skipped."
    if not count:
        return f"The {result.label} export had no numbers for any day: nothing to import."
    span = f"{result.first}" if result.first == result.last else f"{result.first} to {result.last}"
    return (
        f"Imported {count} day{'' if count == 1 else 's'} of {result.platform} numbers for "
        f"@{handle.name} ({span}) from a {result.label} export."
    )
