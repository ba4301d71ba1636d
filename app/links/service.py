"""Handles and their routing: naming rules, creation, routes, default pages, and the snapshot
of one handle that the one-link hot path serves from.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.external_urls import check_external_url
from app.handles.exceptions import HandleTaken
from app.handles.models import Handle
from app.handles.names import RESERVED_HANDLES, normalize_handle_name
from app.handles.visibility import visible_only
from app.links.exceptions import InvalidRoute, RouteNotFound
from app.links.models import Route
from app.links.routing import RouteView
from app.links.schemas import HandleList, HandleRead, HandleUpdate, RouteRead
from app.links.sources import canonical_source
from app.pages.models import Page, PageStatus
from app.pages.service import slug_key
from app.pagination import CursorCodec

__all__ = [
    "RESERVED_HANDLES",
    "HandleSnapshot",
    "add_route",
    "choose_winner",
    "create_handle",
    "get_route",
    "handle_read",
    "handle_reads",
    "list_routes",
    "list_visible_handles",
    "load_handle_snapshot",
    "normalize_handle_name",
    "parse_route_id",
    "remove_route",
    "route_reads",
    "set_default_page",
    "set_route_weight",
    "update_handle",
]

PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))
MAX_WEIGHT = 10_000
WINNER_WEIGHT = 100
VARIANT_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,32}")
BY_HANDLE = "handles"


async def create_handle(session: AsyncSession, name: str, *, display_name: str = "") -> Handle:
    name = normalize_handle_name(name)
    existing = await session.scalar(select(Handle.id).where(Handle.name == name))
    if existing is not None:
        raise HandleTaken(name)
    handle = Handle(name=name, display_name=display_name.strip()[:100])
    session.add(handle)
    await session.flush()
    return handle


async def _page_of_handle(
    session: AsyncSession, handle: Handle, slug: str, *, field: str = "page"
) -> Page:
    key = slug_key(slug)
    page = None
    if key:
        page = await session.scalar(
            select(Page).where(Page.slug == key, Page.handle_id == handle.id)
        )
    if page is None:
        raise InvalidRoute(field, f"The handle {handle.name!r} has no page {slug!r}.")
    return page


async def set_default_page(
    session: AsyncSession, handle: Handle, slug: str, *, field: str = "page"
) -> Handle:
    page = await _page_of_handle(session, handle, slug, field=field)
    handle.default_page_id = page.id
    await session.flush()
    return handle


async def update_handle(session: AsyncSession, handle: Handle, change: HandleUpdate) -> Handle:
    """Change the display name and/or the default page (one of the handle's own pages)."""
    if change.default_page is not None:
        await set_default_page(session, handle, change.default_page, field="default_page")
    if change.display_name is not None:
        handle.display_name = change.display_name
    handle.updated_at = utcnow()
    await session.flush()
    return handle


async def add_route(
    session: AsyncSession,
    handle: Handle,
    *,
    source: str | None = None,
    page_slug: str | None = None,
    target_url: str | None = None,
    weight: int = 1,
    variant: str | None = None,
) -> Route:
    """Send visitors of `source` (any source when None) to a page or an external URL.

    Several routes for the same source split its visitors by weight (A/B variants).
    """
    canonical = None
    if source is not None and source.strip():
        canonical = canonical_source(source)
        if canonical is None:
            raise InvalidRoute("source", f"Unknown source {source!r}.")
    if (page_slug is None) == (target_url is None):
        raise InvalidRoute("page", "A route points to exactly one of a page or a URL.", "url")
    _check_weight(weight)
    if variant is not None and not VARIANT_PATTERN.fullmatch(variant):
        raise InvalidRoute("variant", "A variant name has 1 to 32 letters, digits, '.', '_', '-'.")
    page_id = None
    if page_slug is not None:
        page_id = (await _page_of_handle(session, handle, page_slug)).id
    if target_url is not None:
        target_url = target_url.strip()
        problem = check_external_url(target_url)
        if problem:
            raise InvalidRoute("url", problem)
        # Non-ASCII characters are percent-encoded so the URL fits a Location header as is.
        target_url = quote(target_url, safe=PRINTABLE_ASCII)
    route = Route(
        handle_id=handle.id,
        source=canonical,
        variant=variant or page_slug or "external",
        weight=weight,
        page_id=page_id,
        target_url=target_url,
    )
    session.add(route)
    await session.flush()
    return route


def _check_weight(weight: int) -> None:
    if not 0 <= weight <= MAX_WEIGHT:
        raise InvalidRoute("weight", f"A weight is between 0 and {MAX_WEIGHT}.")


async def set_route_weight(
    session: AsyncSession, handle: Handle, route_id: int, weight: int
) -> Route:
    """Change a route's share of its source's visitors (0 pauses it; the row stays, so its
    visits and leads keep counting in the variants report)."""
    route = await get_route(session, handle, route_id)
    _check_weight(weight)
    route.weight = weight
    await session.flush()
    return route


async def choose_winner(session: AsyncSession, handle: Handle, route_id: int) -> Route:
    """End an A/B test: the route gets every visitor of its source, its rivals (the handle's
    routes for the same source) weight 0. The rivals are kept, not deleted: the variants
    report still shows what they did, and visits and leads keep pointing at them."""
    winner = await get_route(session, handle, route_id)
    for route in await list_routes(session, handle):
        if route.source == winner.source:
            route.weight = WINNER_WEIGHT if route.id == winner.id else 0
    await session.flush()
    return winner


async def list_routes(session: AsyncSession, handle: Handle) -> Sequence[Route]:
    return (
        await session.scalars(select(Route).where(Route.handle_id == handle.id).order_by(Route.id))
    ).all()


async def get_route(session: AsyncSession, handle: Handle, route_id: int) -> Route:
    route = await session.get(Route, route_id)
    if route is None or route.handle_id != handle.id:
        raise RouteNotFound
    return route


async def remove_route(session: AsyncSession, handle: Handle, route_id: int) -> None:
    await session.delete(await get_route(session, handle, route_id))
    await session.flush()


def parse_route_id(raw: str) -> int:
    """A route id from a URL; anything that is not one is a 404 like an unknown id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise RouteNotFound
    return int(raw)


async def list_visible_handles(
    session: AsyncSession,
    *,
    visible: Collection[int] | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    base_url: str,
) -> HandleList:
    """Keyset pages of the handles the caller sees, in creation order, with their routes."""
    query = select(Handle).order_by(Handle.id).limit(limit + 1)
    if cursor:
        query = query.where(Handle.id > int(codec.decode(cursor, BY_HANDLE, 1)[0]))
    query = query.where(visible_only(Handle.id, visible))
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return HandleList(
        items=await handle_reads(session, rows, base_url),
        next_cursor=codec.encode(BY_HANDLE, [rows[-1].id]) if more else None,
    )


async def _slugs(session: AsyncSession, page_ids: Collection[int]) -> dict[int, str]:
    if not page_ids:
        return {}
    rows = await session.execute(select(Page.id, Page.slug).where(Page.id.in_(page_ids)))
    return dict(rows.all())


async def route_reads(session: AsyncSession, routes: Sequence[Route]) -> list[RouteRead]:
    slugs = await _slugs(session, {r.page_id for r in routes if r.page_id is not None})
    return [RouteRead.from_row(route, slugs) for route in routes]


async def handle_read(session: AsyncSession, handle: Handle, base_url: str) -> HandleRead:
    return (await handle_reads(session, [handle], base_url))[0]


async def handle_reads(
    session: AsyncSession, handles: Sequence[Handle], base_url: str
) -> list[HandleRead]:
    """Handles as the API shows them: the one link, the default page and the routes (three
    queries for any number of handles)."""
    if not handles:
        return []
    routes = (
        await session.scalars(
            select(Route)
            .where(Route.handle_id.in_([handle.id for handle in handles]))
            .order_by(Route.id)
        )
    ).all()
    page_ids = {r.page_id for r in routes if r.page_id is not None}
    page_ids |= {h.default_page_id for h in handles if h.default_page_id is not None}
    slugs = await _slugs(session, page_ids)
    return [
        HandleRead.from_row(
            handle, [r for r in routes if r.handle_id == handle.id], slugs, base_url
        )
        for handle in handles
    ]


@dataclass(frozen=True, slots=True)
class HandleSnapshot:
    """What `/@handle` needs to answer without touching the database: the handle, its routes
    and its published pages. Detached ORM pages are only read, never changed.
    """

    handle_id: int
    name: str
    default_page_id: int | None
    routes: tuple[RouteView, ...]
    pages: dict[int, Page]


async def load_handle_snapshot(session: AsyncSession, name: str) -> HandleSnapshot | None:
    handle = await session.scalar(select(Handle).where(Handle.name == name))
    if handle is None:
        return None
    pages = (
        await session.scalars(
            select(Page).where(
                Page.handle_id == handle.id, Page.status == PageStatus.PUBLISHED.value
            )
        )
    ).all()
    published = {page.id: page for page in pages}
    # A route to a page that is not published is skipped, so visitors fall back to the default.
    routes = tuple(
        RouteView(r.id, r.source, r.variant, r.weight, r.page_id, r.target_url)
        for r in await list_routes(session, handle)
        if r.page_id is None or r.page_id in published
    )
    return HandleSnapshot(handle.id, handle.name, handle.default_page_id, routes, published)
