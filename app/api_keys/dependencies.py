"""The API key dependency: `Authorization: Bearer ll_…` → who is calling, with which scopes,
restricted to which handles.

Missing, malformed, unknown and revoked keys are all the same 401 (with `WWW-Authenticate`); a
key without the route's scope is a 403. The key is read in the request's own session. Its
`last_used_at` is written at most once a minute: by a write request in its own transaction
(which on SQLite already holds the single writer), by a read request in a short write
transaction of its own (a read transaction cannot safely become a writer on SQLite).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import service as api_keys
from app.db import SAFE_METHODS, Database, SessionDep, utcnow
from app.errors import Forbidden, Unauthorized
from app.handles.visibility import sees

__all__ = [
    "AdminKey",
    "ApiCaller",
    "ApiKeyDep",
    "LeadsReadKey",
    "LeadsWriteKey",
    "PagesReadKey",
    "PagesWriteKey",
    "bearer_scheme",
    "require_scope",
]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="ll_…",
    description=(
        "An API key from `leadlink keys create` or `POST /api/v1/keys`: "
        "`Authorization: Bearer ll_…`."
    ),
)


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """The key a request was made with. `handle_ids` is None when the key sees every handle;
    services filter with it, and anything outside it is a 404, exactly like a missing thing."""

    key_id: int
    scopes: frozenset[str]
    handle_ids: frozenset[int] | None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def has_scope(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def can_see_handle(self, handle_id: int) -> bool:
        return sees(self.handle_ids, handle_id)


async def _record_use(request: Request, session: AsyncSession, key_id: int) -> None:
    now = utcnow()
    if request.method not in SAFE_METHODS:
        await api_keys.record_use(session, key_id, now)
        return
    database: Database = request.app.state.database
    async with database.session() as own:
        await api_keys.record_use(own, key_id, now)
        await own.commit()


async def _authenticate(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> ApiCaller:
    if credentials is None:
        raise Unauthorized("Send an API key: `Authorization: Bearer ll_…`.")
    key = await api_keys.find_active_key(session, credentials.credentials)
    if key is None:
        raise Unauthorized("This API key is not valid (malformed, unknown or revoked).")
    if api_keys.needs_use_recorded(key, utcnow()):
        await _record_use(request, session, key.id)
    return ApiCaller(key_id=key.id, scopes=key.scopes, handle_ids=key.handle_ids)


ApiKeyDep = Annotated[ApiCaller, Depends(_authenticate)]


def require_scope(*scopes: str) -> Callable[[ApiCaller], Awaitable[ApiCaller]]:
    """A dependency admitting keys with one of `scopes` (`admin` has every scope); others get
    403."""
    unknown = [scope for scope in scopes if scope not in api_keys.SCOPES]
    if not scopes or unknown:
        raise ValueError(f"unknown scopes {unknown!r}")
    needed = " or ".join(repr(scope) for scope in scopes)

    async def check(caller: ApiKeyDep) -> ApiCaller:
        if not any(caller.has_scope(scope) for scope in scopes):
            raise Forbidden(f"This API key lacks the {needed} scope.")
        return caller

    return check


LeadsReadKey = Annotated[ApiCaller, Depends(require_scope("leads:read"))]
LeadsWriteKey = Annotated[ApiCaller, Depends(require_scope("leads:write"))]
# Pages and handles are the owner's side; a CRM that syncs leads may read them to name them.
PagesReadKey = Annotated[ApiCaller, Depends(require_scope("pages:write", "leads:read"))]
PagesWriteKey = Annotated[ApiCaller, Depends(require_scope("pages:write"))]
AdminKey = Annotated[ApiCaller, Depends(require_scope("admin"))]
