"""Handles and their routing: naming rules, creation, routes, default pages, and the snapshot
of one handle that the one-link hot path serves from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.links.exceptions import (
    HandleNotFound,
    HandleTaken,
    InvalidHandle,
    InvalidRoute,
    RouteNotFound,
)
from app.links.models import Handle, Route
from app.links.routing import RouteView, check_external_url
from app.links.sources import canonical_source
from app.pages.models import Page, PageStatus

__all__ = [
    "RESERVED_HANDLES",
    "HandleSnapshot",
    "add_route",
    "create_handle",
    "get_handle",
    "list_handles",
    "list_routes",
    "load_handle_snapshot",
    "normalize_handle_name",
    "remove_route",
    "set_default_page",
]

HANDLE_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_.-]{0,28}[a-z0-9])?")
PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))
VARIANT_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,32}")
# Names that are, or could become, paths or words of the service itself.
RESERVED_HANDLES = frozenset(
    {
        "admin", "api", "static", "assets", "p", "c", "g", "u", "healthz", "readyz", "metrics",
        "docs", "redoc", "openapi", "openapi.json", "login", "logout", "signin", "signup",
        "settings", "account", "help", "support", "about", "leadlink", "root", "www", "mail",
        "favicon.ico", "robots.txt", "well-known", ".well-known", "null", "undefined",
    }
)  # fmt: skip


def normalize_handle_name(raw: str) -> str:
    """Lower-case and check a handle; raise `InvalidHandle` with a message a creator can act on."""
    name = raw.strip().lstrip("@").lower()
    if not name:
        raise InvalidHandle("A handle cannot be empty.")
    if len(name) > 30:
        raise InvalidHandle("A handle has at most 30 characters.")
    if not HANDLE_PATTERN.fullmatch(name):
        raise InvalidHandle(
            "A handle uses letters a-z, digits, '.', '_' or '-', and starts and ends with a "
            "letter or digit."
        )
    if name in RESERVED_HANDLES:
        raise InvalidHandle(f"The handle {name!r} is reserved; choose another.")
    return name


async def create_handle(session: AsyncSession, name: str, *, display_name: str = "") -> Handle:
    name = normalize_handle_name(name)
    existing = await session.scalar(select(Handle.id).where(Handle.name == name))
    if existing is not None:
        raise HandleTaken(name)
    handle = Handle(name=name, display_name=display_name.strip()[:100])
    session.add(handle)
    await session.flush()
    return handle


async def get_handle(session: AsyncSession, name: str) -> Handle:
    handle = await session.scalar(select(Handle).where(Handle.name == name.strip().lower()))
    if handle is None:
        raise HandleNotFound(name)
    return handle


async def list_handles(session: AsyncSession) -> Sequence[Handle]:
    return (await session.scalars(select(Handle).order_by(Handle.name))).all()


async def _page_of_handle(session: AsyncSession, handle: Handle, slug: str) -> Page:
    page = await session.scalar(
        select(Page).where(Page.slug == slug.strip().lower(), Page.handle_id == handle.id)
    )
    if page is None:
        raise InvalidRoute("page", f"The handle {handle.name!r} has no page {slug!r}.")
    return page


async def set_default_page(session: AsyncSession, handle: Handle, slug: str) -> Handle:
    page = await _page_of_handle(session, handle, slug)
    handle.default_page_id = page.id
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
        raise InvalidRoute("target", "A route points to exactly one of a page or a URL.")
    if not 0 <= weight <= 10_000:
        raise InvalidRoute("weight", "A weight is between 0 and 10000.")
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


async def list_routes(session: AsyncSession, handle: Handle) -> Sequence[Route]:
    return (
        await session.scalars(select(Route).where(Route.handle_id == handle.id).order_by(Route.id))
    ).all()


async def remove_route(session: AsyncSession, handle: Handle, route_id: int) -> None:
    route = await session.get(Route, route_id)
    if route is None or route.handle_id != handle.id:
        raise RouteNotFound
    await session.delete(route)
    await session.flush()


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
