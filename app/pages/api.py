"""`/api/v1/pages`: list, create, show and change landing pages, publish and archive them.
Reading takes `pages:write` or `leads:read`, writing `pages:write`; the rules live in
`app.pages.service`, shared with the CLI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys.dependencies import ApiCaller, PagesReadKey, PagesWriteKey
from app.db import SessionDep
from app.dependencies import BaseUrlDep, ForgetPublicCaches
from app.handles.visibility import find_visible_handle
from app.idempotency.dependencies import ApiResult, IdempotentWrite, IdempotentWriteDep
from app.openapi import problem_responses
from app.pages import service as pages
from app.pages.models import Page
from app.pages.schemas import (
    PageCreateRequest,
    PageList,
    PageRead,
    PageStatusName,
    PageUpdateRequest,
)
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link

__all__ = ["router"]

router = APIRouter(prefix="/pages", tags=["pages"])


@router.get(
    "",
    operation_id="pages-list",
    response_model=PageList,
    summary="List pages",
    description=(
        "Keyset pages of landing pages in creation order, of every status unless `status` "
        'says otherwise. Follow `next_cursor` (or the `Link: rel="next"` header).'
    ),
    responses=problem_responses(404),
)
async def list_pages(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: PagesReadKey,
    codec: CursorCodecDep,
    base_url: BaseUrlDep,
    handle: Annotated[
        str | None,
        Query(
            min_length=1, max_length=31, description="Only this handle's pages.", examples=["anna"]
        ),
    ] = None,
    status: Annotated[
        PageStatusName | None, Query(description="Only pages in this status.", examples=["draft"])
    ] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> PageList:
    owner = (
        await find_visible_handle(session, handle, caller.handle_ids, field="handle")
        if handle
        else None
    )
    found = await pages.list_visible_pages(
        session,
        visible=caller.handle_ids,
        handle=owner,
        status=status,
        codec=codec,
        cursor=cursor,
        limit=limit,
        base_url=base_url,
    )
    response.headers.update(next_link(request, found.next_cursor))
    return found


@router.post(
    "",
    operation_id="pages-create",
    status_code=201,
    response_model=PageRead,
    summary="Create a page",
    description=(
        "A new **draft** of one of the key's handles (publish it with `POST …/publish`); a "
        "handle's first page becomes its default page. Without a gift it can be saved and "
        "completed later. 409 when the slug is taken (slugs are shared by all handles)."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def create_page(
    *,
    body: PageCreateRequest,
    request: Request,
    session: SessionDep,
    caller: PagesWriteKey,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        handle = await find_visible_handle(session, body.handle, caller.handle_ids, field="handle")
        page = await pages.create_page(session, handle, body.to_create())
        return ApiResult(
            201,
            await pages.page_read(session, page, base_url),
            {"Location": f"{request.url.path}/{page.slug}"},
        )

    return await write.respond(caller.key_id, body, run)


@router.get(
    "/{slug}",
    operation_id="pages-get",
    response_model=PageRead,
    summary="Show a page",
    responses=problem_responses(404),
)
async def get_page(
    slug: str, session: SessionDep, caller: PagesReadKey, base_url: BaseUrlDep
) -> PageRead:
    page = await pages.get_visible_page(session, slug, caller.handle_ids)
    return await pages.page_read(session, page, base_url)


@router.patch(
    "/{slug}",
    operation_id="pages-update",
    response_model=PageRead,
    summary="Change a page",
    description=(
        "Only the fields sent change; null clears `hero_image_url` and the `og_*` fields and "
        "is ignored elsewhere. A new `consent_text` gets the next `consent_version`. A new "
        "`slug` moves the page (the old address stops working). The status changes with "
        "`POST …/publish` and `POST …/archive`."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def update_page(
    slug: str,
    *,
    body: PageUpdateRequest,
    session: SessionDep,
    caller: PagesWriteKey,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        page = await pages.get_visible_page(session, slug, caller.handle_ids)
        page = await pages.update_page(session, page, body.to_update(), gift_files=False)
        return ApiResult(200, await pages.page_read(session, page, base_url))

    return await write.respond(caller.key_id, body, run)


@router.post(
    "/{slug}/publish",
    operation_id="pages-publish",
    response_model=PageRead,
    summary="Publish a page",
    description=(
        "Puts a draft or archived page online at `/p/{slug}` and makes it available to its "
        "handle's routing. Publishing a published page changes nothing."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def publish_page(
    slug: str,
    *,
    session: SessionDep,
    caller: PagesWriteKey,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    return await _change_status(
        pages.publish_page,
        slug,
        session=session,
        caller=caller,
        base_url=base_url,
        write=write,
    )


@router.post(
    "/{slug}/archive",
    operation_id="pages-archive",
    response_model=PageRead,
    summary="Archive a page",
    description=(
        "Takes the page offline: `/p/{slug}` answers 404 and routes to it are skipped (their "
        "visitors get the default page). Nothing is deleted: its leads, consent records, "
        "visits and reports stay, and `POST …/publish` brings it back."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def archive_page(
    slug: str,
    *,
    session: SessionDep,
    caller: PagesWriteKey,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    return await _change_status(
        pages.archive_page,
        slug,
        session=session,
        caller=caller,
        base_url=base_url,
        write=write,
    )


async def _change_status(
    change: Callable[[AsyncSession, Page], Awaitable[Page]],
    slug: str,
    *,
    session: AsyncSession,
    caller: ApiCaller,
    base_url: str,
    write: IdempotentWrite,
) -> Response:
    """Publish or archive a visible page, answering a repeated Idempotency-Key as before."""

    async def run() -> ApiResult:
        page = await change(session, await pages.get_visible_page(session, slug, caller.handle_ids))
        return ApiResult(200, await pages.page_read(session, page, base_url))

    return await write.respond(caller.key_id, None, run)
