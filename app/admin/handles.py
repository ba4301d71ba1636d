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
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Form, Query, Request
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
from app.links.models import Route
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


@dataclass(frozen=True, slots=True)
class HandleScope:
    """A request about one handle in the owner's sight, with what its page needs."""

    request: Request
    session: AsyncSession
    owner: Owner
    settings: Settings
    base_url: str
    handle: Handle


async def _handle_scope(
    *,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    base_url: BaseUrlDep,
    handle: str,
) -> HandleScope:
    # The path parameter is `handle` on every route; out of sight is the 404 of a missing one.
    found = await find_visible_handle(session, handle, owner.sight)
    return HandleScope(request, session, owner, settings, base_url, found)


HandleDep = Annotated[HandleScope, Depends(_handle_scope)]


async def _experiments(scope: HandleScope) -> tuple[list[Route], list[handle_page.Experiment]]:
    tz = scope.settings.report_tz
    start, end = handle_page.last_days(report_page.today_in(tz))
    routes = list(await links.list_routes(scope.session, scope.handle))
    report = await variants.variant_report(scope.session, scope.handle, start, end, tz=tz)
    return routes, handle_page.experiments_of(report, routes)


async def _is_running(scope: HandleScope, source: str | None) -> bool:
    """Whether the A/B test of `source` has data and more than one live variant."""
    _routes, experiments = await _experiments(scope)
    return source in handle_page.running_sources(experiments)


async def _handle_view(
    scope: HandleScope,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    weight_errors: Mapping[int, str] | None = None,
) -> HTMLResponse:
    handle = scope.handle
    routes, experiments = await _experiments(scope)
    running = handle_page.running_sources(experiments)
    handle_pages = [
        page
        for page in await pages.list_pages(scope.session, handle)
        if page.status != PageStatus.ARCHIVED.value
    ]
    one_link, _platforms = handle_page.links_of(scope.base_url, handle.name)
    return admin_page(
        scope.request,
        scope.owner,
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


def _back(scope: HandleScope, message: str, *, running: bool = False) -> Response:
    """303 to the handle's page with `message` (and the comparability warning when a running
    A/B test was changed)."""
    if running:
        message = f"{message} {RESETS_COMPARABILITY}"
    return redirect_with_flash(scope.request, f"/admin/handles/{scope.handle.name}", message)


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
async def show_handle(scope: HandleDep) -> HTMLResponse:
    return await _handle_view(scope)


@router.post("/{handle}/default-page", dependencies=[ForgetPublicCaches])
async def set_default_page(scope: HandleDep, page: FormText = "") -> Response:
    try:
        await links.set_default_page(scope.session, scope.handle, page, field="default_page")
    except ValidationFailed as exc:
        return await _handle_view(scope, status_code=422, errors=handle_page.errors_of(exc))
    return _back(scope, f"Visitors of @{scope.handle.name} now get {page}.")


@router.post("/{handle}/routes", dependencies=[ForgetPublicCaches])
async def add_route(
    *,
    scope: HandleDep,
    source: FormText = "",
    page: FormText = "",
    url: FormText = "",
    weight: FormText = "",
    variant: FormText = "",
) -> Response:
    form = {"source": source, "page": page, "url": url, "weight": weight, "variant": variant}
    try:
        body = handle_page.parse_route_form(form)
        running = await _is_running(scope, body.source)
        route = await links.add_route(
            scope.session,
            scope.handle,
            source=body.source,
            page_slug=body.page,
            target_url=body.url,
            weight=body.weight,
            variant=body.variant,
        )
    except ValidationFailed as exc:
        errors = handle_page.errors_of(exc)
        return await _handle_view(scope, status_code=422, errors=errors, form=form)
    target = body.page or body.url or ""
    label = handle_page.source_label(route.source)
    return _back(scope, f"Rule added: visitors from {label} go to {target}.", running=running)


@router.post("/{handle}/routes/{route_id}", dependencies=[ForgetPublicCaches])
async def change_weight(scope: HandleDep, route_id: str, weight: FormText = "") -> Response:
    route = await links.get_route(scope.session, scope.handle, links.parse_route_id(route_id))
    running = await _is_running(scope, route.source)
    try:
        new_weight = handle_page.parse_weight(weight)
        await links.set_route_weight(scope.session, scope.handle, route.id, new_weight)
    except ValidationFailed as exc:
        message = handle_page.errors_of(exc).get("weight", exc.detail)
        return await _handle_view(scope, status_code=422, weight_errors={route.id: message})
    return _back(scope, f"The weight of {route.variant} is now {new_weight}.", running=running)


@router.post("/{handle}/routes/{route_id}/delete", dependencies=[ForgetPublicCaches])
async def remove_route(scope: HandleDep, route_id: str) -> Response:
    route = await links.get_route(scope.session, scope.handle, links.parse_route_id(route_id))
    running = await _is_running(scope, route.source)
    variant, label = route.variant, handle_page.source_label(route.source)
    await links.remove_route(scope.session, scope.handle, route.id)
    return _back(
        scope, f"Rule removed: {variant} no longer gets visitors from {label}.", running=running
    )


@router.post("/{handle}/routes/{route_id}/winner", dependencies=[ForgetPublicCaches])
async def make_winner(scope: HandleDep, route_id: str) -> Response:
    winner = await links.choose_winner(scope.session, scope.handle, links.parse_route_id(route_id))
    return _back(
        scope,
        f"{winner.variant} now gets every visitor from "
        f"{handle_page.source_label(winner.source)}; the other variants are paused (weight 0) "
        "and their results stay below.",
    )


def _qr_download(scope: HandleScope, source: str | None, kind: Literal["svg", "png"]) -> Response:
    """The QR code of the one link (or, with `source`, of a platform's link) as a download."""
    name = scope.handle.name
    chosen = handle_page.qr_source(source)
    url = handle_page.link_url(scope.base_url, name, chosen)
    if kind == "svg":
        body: str | bytes = qr_codes.qr_svg(url, title=f"QR code of {url}")
        media_type = qr_codes.SVG_MEDIA_TYPE
    else:
        body, media_type = qr_codes.qr_png(url), qr_codes.PNG_MEDIA_TYPE
    filename = f"leadlink-{name}-{chosen or 'one-link'}-qr.{kind}"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


SourceQuery = Annotated[str | None, Query(max_length=32)]


@router.get("/{handle}/qr.svg")
async def qr_svg(scope: HandleDep, source: SourceQuery = None) -> Response:
    return _qr_download(scope, source, "svg")


@router.get("/{handle}/qr.png")
async def qr_png(scope: HandleDep, source: SourceQuery = None) -> Response:
    return _qr_download(scope, source, "png")
