"""`/api/v1/handles`: list, create, show and change handles (the name in `/@name`), and add
or remove their routing rules. Reading takes `pages:write` or `leads:read`, writing
`pages:write`; every change reaches `/@handle` at commit. The rules live in
`app.links.service`, shared with the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api_keys.dependencies import ApiCaller, PagesReadKey, PagesWriteKey
from app.db import SessionDep
from app.dependencies import BaseUrlDep, ForgetPublicCaches
from app.errors import Forbidden
from app.handles.visibility import find_visible_handle
from app.idempotency.dependencies import ApiResult, IdempotentWriteDep
from app.links import service as links
from app.links.schemas import (
    HandleCreate,
    HandleList,
    HandleRead,
    HandleUpdate,
    RouteCreate,
    RouteRead,
)
from app.openapi import problem_responses
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link

__all__ = ["router"]

router = APIRouter(prefix="/handles", tags=["handles"])


async def _unrestricted_writer(caller: PagesWriteKey) -> ApiCaller:
    # A key restricted to handles manages those handles; a new one would be out of its sight.
    if caller.handle_ids is not None:
        raise Forbidden("Creating handles needs a key that is not restricted to handles.")
    return caller


HandleCreator = Annotated[ApiCaller, Depends(_unrestricted_writer)]


@router.get(
    "",
    operation_id="handles-list",
    response_model=HandleList,
    summary="List handles",
    description=(
        "Keyset pages of the handles the key can see, in creation order, each with its one "
        'link, default page and routes. Follow `next_cursor` (or `Link: rel="next"`).'
    ),
)
async def list_handles(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: PagesReadKey,
    codec: CursorCodecDep,
    base_url: BaseUrlDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> HandleList:
    found = await links.list_visible_handles(
        session,
        visible=caller.handle_ids,
        codec=codec,
        cursor=cursor,
        limit=limit,
        base_url=base_url,
    )
    response.headers.update(next_link(request, found.next_cursor))
    return found


@router.post(
    "",
    operation_id="handles-create",
    status_code=201,
    response_model=HandleRead,
    summary="Create a handle",
    description=(
        "The name is lower-cased (a leading '@' is dropped); malformed and reserved names are "
        "a 422 naming `name`, a taken one a 409. A key restricted to handles cannot create "
        "handles (403). Create the handle's pages with `POST /api/v1/pages`: the first one "
        "becomes its default page."
    ),
    responses=problem_responses(409, 422),
    dependencies=[ForgetPublicCaches],
)
async def create_handle(
    *,
    body: HandleCreate,
    request: Request,
    session: SessionDep,
    caller: HandleCreator,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        handle = await links.create_handle(session, body.name, display_name=body.display_name)
        return ApiResult(
            201,
            await links.handle_read(session, handle, base_url),
            {"Location": f"{request.url.path}/{handle.name}"},
        )

    return await write.respond(caller.key_id, body, run)


@router.get(
    "/{name}",
    operation_id="handles-get",
    response_model=HandleRead,
    summary="Show a handle",
    description="Its one link, default page and routing rules (with weighted variants).",
    responses=problem_responses(404),
)
async def get_handle(
    name: str, session: SessionDep, caller: PagesReadKey, base_url: BaseUrlDep
) -> HandleRead:
    handle = await find_visible_handle(session, name, caller.handle_ids)
    return await links.handle_read(session, handle, base_url)


@router.patch(
    "/{name}",
    operation_id="handles-update",
    response_model=HandleRead,
    summary="Change a handle",
    description=(
        "The display name, and the default page: one of the handle's own pages (any status; "
        "visitors get it once it is published). A handle is never renamed or deleted: its "
        "name is in bios and its leads and reports refer to it."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def update_handle(
    name: str,
    *,
    body: HandleUpdate,
    session: SessionDep,
    caller: PagesWriteKey,
    base_url: BaseUrlDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        handle = await find_visible_handle(session, name, caller.handle_ids)
        handle = await links.update_handle(session, handle, body)
        return ApiResult(200, await links.handle_read(session, handle, base_url))

    return await write.respond(caller.key_id, body, run)


@router.post(
    "/{name}/routes",
    operation_id="handles-add-route",
    status_code=201,
    response_model=RouteRead,
    summary="Add a routing rule",
    description=(
        "Visitors of `source` (any source when absent) go to one of the handle's pages or are "
        "redirected (302) to an http(s) URL. Routes of the same source split its visitors by "
        "`weight` (A/B variants, sticky per visitor and day); a source's routes win over "
        "any-source routes; a route to a page that is not published is skipped. `/@handle` "
        "follows the change at once."
    ),
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def add_route(
    name: str,
    *,
    body: RouteCreate,
    request: Request,
    session: SessionDep,
    caller: PagesWriteKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        handle = await find_visible_handle(session, name, caller.handle_ids)
        route = await links.add_route(
            session,
            handle,
            source=body.source,
            page_slug=body.page,
            target_url=body.url,
            weight=body.weight,
            variant=body.variant,
        )
        return ApiResult(
            201,
            (await links.route_reads(session, [route]))[0],
            {"Location": f"{request.url.path}/{route.id}"},
        )

    return await write.respond(caller.key_id, body, run)


@router.get(
    "/{name}/routes/{route_id}",
    operation_id="handles-get-route",
    response_model=RouteRead,
    summary="Show a routing rule",
    responses=problem_responses(404),
)
async def get_route(
    name: str, route_id: str, session: SessionDep, caller: PagesReadKey
) -> RouteRead:
    handle = await find_visible_handle(session, name, caller.handle_ids)
    route = await links.get_route(session, handle, links.parse_route_id(route_id))
    return (await links.route_reads(session, [route]))[0]


@router.delete(
    "/{name}/routes/{route_id}",
    operation_id="handles-remove-route",
    status_code=204,
    response_class=Response,
    summary="Remove a routing rule",
    description="Its visitors fall back to the other rules or the default page at once.",
    responses=problem_responses(404, 409, 422),
    dependencies=[ForgetPublicCaches],
)
async def remove_route(
    name: str,
    route_id: str,
    *,
    session: SessionDep,
    caller: PagesWriteKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        handle = await find_visible_handle(session, name, caller.handle_ids)
        await links.remove_route(session, handle, links.parse_route_id(route_id))
        return ApiResult(204)

    return await write.respond(caller.key_id, None, run)
