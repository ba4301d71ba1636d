"""`/api/v1/keys`: issue, list, show and revoke (`POST …/revoke`) API keys. Scope `admin`, and
not restricted to handles: a restricted key could otherwise issue itself an unrestricted one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api_keys import service as api_keys
from app.api_keys.dependencies import AdminKey, ApiCaller
from app.api_keys.exceptions import ApiKeyNotFound
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyRead
from app.db import SessionDep
from app.errors import Forbidden
from app.idempotency.dependencies import ApiResult, IdempotentWriteDep
from app.openapi import problem_responses
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link

__all__ = ["router"]

router = APIRouter(prefix="/keys", tags=["keys"])


async def _unrestricted_admin(caller: AdminKey) -> ApiCaller:
    if caller.handle_ids is not None:
        raise Forbidden("Managing API keys needs an admin key that is not restricted to handles.")
    return caller


KeyAdmin = Annotated[ApiCaller, Depends(_unrestricted_admin)]


def _key_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiKeyNotFound
    return int(raw)


@router.post(
    "",
    operation_id="keys-create",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Issue an API key",
    description="The `secret` is in this response only; leadlink stores its SHA-256.",
    responses=problem_responses(404, 409, 422),
)
async def create_key(
    *,
    body: ApiKeyCreate,
    request: Request,
    session: SessionDep,
    caller: KeyAdmin,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        issued = await api_keys.issue_api_key(
            session, name=body.name, scopes=body.scopes, handle_names=body.handles
        )
        names = (await api_keys.handle_names_by_key(session, [issued.key.id])).get(
            issued.key.id, []
        )
        read = ApiKeyRead.from_row(issued.key, names)
        return ApiResult(
            status_code=201,
            body=ApiKeyCreated(**read.model_dump(), secret=issued.secret),
            replay_body=ApiKeyCreated(**read.model_dump(), secret=None),
            headers={"Location": f"{request.url.path}/{issued.key.id}"},
        )

    return await write.respond(caller.key_id, body, run)


@router.get(
    "",
    operation_id="keys-list",
    response_model=ApiKeyList,
    summary="List API keys",
    responses=problem_responses(422),
)
async def list_keys(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    _caller: KeyAdmin,
    codec: CursorCodecDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> ApiKeyList:
    after = int(codec.decode(cursor, "keys", 1)[0]) if cursor else None
    keys = list(await api_keys.list_api_keys_after(session, after, limit + 1))
    more = len(keys) > limit
    keys = keys[:limit]
    names = await api_keys.handle_names_by_key(session, [key.id for key in keys])
    next_cursor = codec.encode("keys", [keys[-1].id]) if more else None
    response.headers.update(next_link(request, next_cursor))
    return ApiKeyList(
        items=[ApiKeyRead.from_row(key, names.get(key.id, [])) for key in keys],
        next_cursor=next_cursor,
    )


@router.get(
    "/{key_id}",
    operation_id="keys-get",
    response_model=ApiKeyRead,
    summary="Show an API key",
    responses=problem_responses(404),
)
async def get_key(key_id: str, session: SessionDep, _caller: KeyAdmin) -> ApiKeyRead:
    key = await api_keys.get_api_key(session, _key_id(key_id))
    names = await api_keys.handle_names_by_key(session, [key.id])
    return ApiKeyRead.from_row(key, names.get(key.id, []))


@router.post(
    "/{key_id}/revoke",
    operation_id="keys-revoke",
    response_model=ApiKeyRead,
    summary="Revoke an API key",
    description=(
        "Requests with the key get 401 from now on. The key stays listed, with `revoked_at`; "
        "revoking it again changes nothing."
    ),
    responses=problem_responses(404, 409),
)
async def revoke_key(
    key_id: str,
    *,
    session: SessionDep,
    caller: KeyAdmin,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        key = await api_keys.revoke_api_key(session, _key_id(key_id))
        names = await api_keys.handle_names_by_key(session, [key.id])
        return ApiResult(200, ApiKeyRead.from_row(key, names.get(key.id, [])))

    return await write.respond(caller.key_id, None, run)
