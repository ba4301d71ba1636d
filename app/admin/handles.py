"""The handles section, `/admin/handles`: the handles in sight, a new handle (admins only), and a
handle's page with its default page, routing rules, A/B results and QR code downloads.

Every change goes through `app.links.service` after the API's own schemas, so the admin applies
exactly the rules and messages of `/api/v1/handles`, and forgets the one link's caches at commit
like the API does. A handle out of the owner's sight is a 404 on every route. Only an admin
creates handles: an owner manages the handles granted to them, and a new handle would be out of
their sight (as for an API key restricted to handles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import handle_page, report_page
from app.admin.dependencies import AdminDep, Owner, OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.config import Settings
from app.db import SessionDep
from app.dependencies import BaseUrlDep, ForgetPublicCaches
from app.errors import Conflict, ValidationFailed
from app.handles import service as handles
from app.handles.models import Handle
from app.handles.visibility import find_visible_handle
from app.links import qr_codes
from app.links import service as links
from app.links.sources import CANONICAL_SOURCES
from app.pages import service as pages
from app.pages.models import PageStatus
from app.reports import variants

__all__ = ["router"]

router = owner_router("/handles")

FormText = Annotated[str, Form(max_length=4096)]
RESETS_COMPARABILITY = (
    "This A/B test already has visits: changing its variants or weights resets "
    "comparability, so compare results from now on only."
)


async def _experiments(
    session: AsyncSession, handle: Handle, settings: Settings
) -> tuple[list[Any], list[handle_page.Experiment]]:
    start, end = handle_page.last_days(report_page.today_in(settings.report_tz))
    routes = list(await links.list_routes(session, handle))
    report = await variants.variant_report(session, handle, start, end, tz=settings.report_tz)
    return routes, handle_page.experiments_of(report, routes)


async def _handle_view(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    *,
    settings: Settings,
    base_url: str,
    handle: Handle,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    weight_errors: Mapping[int, str] | None = None,
) -> HTMLResponse:
    routes, experiments = await _experiments(session, handle, settings)
    running = handle_page.running_sources(experiments)
    handle_pages = [
        page
        for page in await pages.list_pages(session, handle)
        if page.status != PageStatus.ARCHIVED.value
    ]
    one_link, _platforms = handle_page.links_of(base_url, handle.name)
    return admin_page(
        request,
        owner,
        "admin/handles/detail.html",
        active="handles",
        status_code=status_code,
        handle=handle,
        one_link=one_link,
        published=[p for p in handle_pages if p.status == PageStatus.PUBLISHED.value],
        handle_pages=handle_pages,
        default_page=next((p for p in handle_pages if p.id == handle.default_page_id), None),
        rules=handle_page.rule_views(routes, handle_pages),
        experiments=experiments,
        running=running,
        running_labels=", ".join(sorted(handle_page.source_label(source) for source in running)),
        sources=CANONICAL_SOURCES,
        source_label=handle_page.source_label,
        errors=errors or {},
        form=form or {},
        weight_errors=weight_errors or {},
        days=handle_page.RESULT_DAYS,
        resets_comparability=RESETS_COMPARABILITY,
    )


def _saved(running: bool, message: str = "Saved.") -> str:
    return f"{message} {RESETS_COMPARABILITY}" if running else message


async def _list_view(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    base_url: str,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> HTMLResponse:
    visible = await handles.list_handles(session, sight=owner.sight)
    return admin_page(
        request,
        owner,
        "admin/handles/list.html",
        active="handles",
        status_code=status_code,
        items=await links.handle_reads(session, visible, base_url),
        errors=errors or {},
        form=form or {},
    )


@router.get("")
async def list_handles(
    request: Request, session: SessionDep, owner: OwnerDep, base_url: BaseUrlDep
) -> HTMLResponse:
    return await _list_view(request, session, owner, base_url)


@router.post("", dependencies=[ForgetPublicCaches])
async def create_handle(
    *,
    request: Request,
    session: SessionDep,
    owner: AdminDep,
    base_url: BaseUrlDep,
    name: FormText = "",
    display_name: FormText = "",
) -> Response:
    form = {"name": name, "display_name": display_name}
    try:
        body = handle_page.parse_handle_form(form)
        handle = await links.create_handle(session, body.name, display_name=body.display_name)
    except (ValidationFailed, Conflict) as exc:
        errors = handle_page.errors_of(exc, {"handle": "name"})
        return await _list_view(
            request, session, owner, base_url, status_code=422, errors=errors, form=form
        )
    return redirect_with_flash(
        request,
        f"/admin/handles/{handle.name}",
        f"@{handle.name} is ready. Create its first page next: visitors see it at your link.",
    )


@router.get("/{handle}")
async def show_handle(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
    handle: str,
) -> HTMLResponse:
    found = await find_visible_handle(session, handle, owner.sight)
    return await _handle_view(
        request, session, owner, settings=settings, base_url=base_url, handle=found
    )


@router.post("/{handle}/default-page", dependencies=[ForgetPublicCaches])
async def set_default_page(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
    handle: str,
    page: FormText = "",
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    try:
        await links.set_default_page(session, found, page, field="default_page")
    except ValidationFailed as exc:
        return await _handle_view(
            request,
            session,
            owner,
            settings=settings,
            base_url=base_url,
            handle=found,
            status_code=422,
            errors=handle_page.errors_of(exc),
        )
    return redirect_with_flash(
        request, f"/admin/handles/{found.name}", f"Visitors of @{found.name} now get {page}."
    )


@router.post("/{handle}/routes", dependencies=[ForgetPublicCaches])
async def add_route(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
    handle: str,
    source: FormText = "",
    page: FormText = "",
    url: FormText = "",
    weight: FormText = "",
    variant: FormText = "",
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    form = {"source": source, "page": page, "url": url, "weight": weight, "variant": variant}
    _routes, experiments = await _experiments(session, found, settings)
    try:
        body = handle_page.parse_route_form(form)
        route = await links.add_route(
            session,
            found,
            source=body.source,
            page_slug=body.page,
            target_url=body.url,
            weight=body.weight,
            variant=body.variant,
        )
    except ValidationFailed as exc:
        return await _handle_view(
            request,
            session,
            owner,
            settings=settings,
            base_url=base_url,
            handle=found,
            status_code=422,
            errors=handle_page.errors_of(exc),
            form=form,
        )
    running = route.source in handle_page.running_sources(experiments)
    message = f"Rule added: visitors from {handle_page.source_label(route.source)} go to " + (
        body.page or body.url or ""
    )
    return redirect_with_flash(
        request, f"/admin/handles/{found.name}", _saved(running, message + ".")
    )


@router.post("/{handle}/routes/{route_id}", dependencies=[ForgetPublicCaches])
async def change_weight(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
    handle: str,
    route_id: str,
    weight: FormText = "",
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    route = await links.get_route(session, found, links.parse_route_id(route_id))
    _routes, experiments = await _experiments(session, found, settings)
    try:
        await links.set_route_weight(session, found, route.id, handle_page.parse_weight(weight))
    except ValidationFailed as exc:
        return await _handle_view(
            request,
            session,
            owner,
            settings=settings,
            base_url=base_url,
            handle=found,
            status_code=422,
            weight_errors={route.id: handle_page.errors_of(exc).get("weight", exc.detail)},
        )
    running = route.source in handle_page.running_sources(experiments)
    return redirect_with_flash(
        request,
        f"/admin/handles/{found.name}",
        _saved(running, f"The weight of {route.variant} is now {route.weight}."),
    )


@router.post("/{handle}/routes/{route_id}/delete", dependencies=[ForgetPublicCaches])
async def remove_route(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    handle: str,
    route_id: str,
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    route = await links.get_route(session, found, links.parse_route_id(route_id))
    _routes, experiments = await _experiments(session, found, settings)
    running = route.source in handle_page.running_sources(experiments)
    variant, source = route.variant, route.source
    await links.remove_route(session, found, route.id)
    return redirect_with_flash(
        request,
        f"/admin/handles/{found.name}",
        _saved(
            running,
            f"Rule removed: {variant} no longer gets visitors from "
            f"{handle_page.source_label(source)}.",
        ),
    )


@router.post("/{handle}/routes/{route_id}/winner", dependencies=[ForgetPublicCaches])
async def make_winner(
    *, request: Request, session: SessionDep, owner: OwnerDep, handle: str, route_id: str
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    winner = await links.choose_winner(session, found, links.parse_route_id(route_id))
    return redirect_with_flash(
        request,
        f"/admin/handles/{found.name}",
        f"{winner.variant} now gets every visitor from "
        f"{handle_page.source_label(winner.source)}; the other variants are paused (weight 0) "
        "and their results stay below.",
    )


def _download(handle_name: str, source: str | None, extension: str) -> str:
    return f'attachment; filename="leadlink-{handle_name}-{source or "one-link"}-qr.{extension}"'


@router.get("/{handle}/qr.svg")
async def qr_svg(
    *,
    session: SessionDep,
    owner: OwnerDep,
    base_url: BaseUrlDep,
    handle: str,
    source: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    chosen = handle_page.qr_source(source)
    url = handle_page.link_url(base_url, found.name, chosen)
    return Response(
        qr_codes.qr_svg(url, title=f"QR code of {url}"),
        media_type=qr_codes.SVG_MEDIA_TYPE,
        headers={
            "Content-Disposition": _download(found.name, chosen, "svg"),
            "Cache-Control": "no-store",
        },
    )


@router.get("/{handle}/qr.png")
async def qr_png(
    *,
    session: SessionDep,
    owner: OwnerDep,
    base_url: BaseUrlDep,
    handle: str,
    source: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    found = await find_visible_handle(session, handle, owner.sight)
    chosen = handle_page.qr_source(source)
    url = handle_page.link_url(base_url, found.name, chosen)
    return Response(
        qr_codes.qr_png(url),
        media_type=qr_codes.PNG_MEDIA_TYPE,
        headers={
            "Content-Disposition": _download(found.name, chosen, "png"),
            "Cache-Control": "no-store",
        },
    )
