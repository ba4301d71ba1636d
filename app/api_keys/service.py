"""Issuing, listing and revoking API keys. The secret is shown once; only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys.exceptions import ApiKeyNotFound, UnknownScope
from app.api_keys.models import ApiKey, api_key_handles
from app.db import utcnow
from app.errors import FieldError, NotFound, ValidationFailed
from app.handles.models import Handle
from app.handles.names import can_name_a_handle, handle_key
from app.handles.visibility import Sight, sees, sees_all

__all__ = [
    "LAST_USED_RESOLUTION",
    "SCOPES",
    "ActiveKey",
    "IssuedKey",
    "create_api_key",
    "find_active_key",
    "get_api_key",
    "handle_ids_by_key",
    "handle_names_by_key",
    "hash_secret",
    "issue_api_key",
    "list_api_keys",
    "list_api_keys_after",
    "needs_use_recorded",
    "record_use",
    "revoke_api_key",
]

SCOPES = ("leads:read", "leads:write", "pages:write", "reports:read", "admin")
SECRET_PREFIX = "ll_"  # noqa: S105 - a public marker, not a secret
DISPLAY_PREFIX_LENGTH = 11  # "ll_" + 8 characters: enough to tell keys apart in a list
MAX_SECRET_LENGTH = 100
# `last_used_at` is exact to this much, so a busy key costs one write a minute, not one a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """An unrevoked key as a request sees it; `handle_ids` is None for an unrestricted key."""

    id: int
    scopes: frozenset[str]
    handle_ids: frozenset[int] | None
    last_used_at: datetime | None


def hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough (as for GitHub tokens);
    # a slow password hash would only slow every API request down.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    checked: list[str] = []
    for scope in scopes:
        if scope not in SCOPES:
            raise UnknownScope(scope)
        if scope not in checked:
            checked.append(scope)
    return checked


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: Iterable[str],
    handles: Sequence[Handle] = (),
) -> IssuedKey:
    """A new key with the given scopes, optionally limited to some handles."""
    checked = _check_scopes(scopes)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip()[:100] or "API key",
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        scopes=" ".join(checked),
    )
    session.add(key)
    await session.flush()
    if handles:
        await session.execute(
            api_key_handles.insert(),
            [{"api_key_id": key.id, "handle_id": handle.id} for handle in handles],
        )
    return IssuedKey(key=key, secret=secret)


async def issue_api_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: Iterable[str],
    handle_names: Sequence[str],
    sight: Sight = None,
) -> IssuedKey:
    """`create_api_key` with handles named by the caller; an unknown one is a 404 naming
    `handles`, as every reference to something that does not exist is.

    A caller limited to some handles (`sight`, an owner of the admin UI) must restrict the key
    to handles within its sight: it can never issue a key that sees more than it does, whatever
    the scopes. A handle out of sight is the same 404 as a missing one.
    """
    wanted = sorted({handle_key(handle) for handle in handle_names})
    if sight is not None and not wanted:
        message = "Choose the handles this key may use; you can only give it your own."
        raise ValidationFailed(message, errors=[FieldError("handles", message)])
    possible = [name for name in wanted if can_name_a_handle(name)]
    found = (
        (await session.scalars(select(Handle).where(Handle.name.in_(possible)))).all()
        if possible
        else []
    )
    found = [handle for handle in found if sees(sight, handle.id)]
    missing = sorted(set(wanted) - {handle.name for handle in found})
    if missing:
        message = "There is no handle " + ", ".join(repr(name) for name in missing) + "."
        raise NotFound(message, errors=[FieldError("handles", message)])
    return await create_api_key(session, name=name, scopes=scopes, handles=found)


async def list_api_keys(session: AsyncSession, *, sight: Sight = None) -> Sequence[ApiKey]:
    """Every key, oldest first; with a `sight`, only the keys restricted to handles all within
    it (an unrestricted key sees every handle, so only a caller who does may see it)."""
    keys = (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()
    if sight is None:
        return keys
    restrictions = await handle_ids_by_key(session, [key.id for key in keys])
    return [key for key in keys if sees_all(sight, restrictions.get(key.id))]


async def revoke_api_key(session: AsyncSession, key_id: int, *, sight: Sight = None) -> ApiKey:
    """Revoke a key (again: nothing changes); a key out of `sight` is a 404 like a missing one."""
    key = await get_api_key(session, key_id, sight=sight)
    key.revoked_at = key.revoked_at or utcnow()
    await session.flush()
    return key


async def find_active_key(session: AsyncSession, secret: str) -> ActiveKey | None:
    """The unrevoked key with this secret and its handle restriction, in one query; else None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > MAX_SECRET_LENGTH:
        return None
    rows = (
        await session.execute(
            select(ApiKey.id, ApiKey.scopes, ApiKey.last_used_at, api_key_handles.c.handle_id)
            .outerjoin(api_key_handles, api_key_handles.c.api_key_id == ApiKey.id)
            .where(ApiKey.secret_hash == hash_secret(secret), ApiKey.revoked_at.is_(None))
        )
    ).all()
    if not rows:
        return None
    handle_ids = frozenset(row.handle_id for row in rows if row.handle_id is not None)
    return ActiveKey(
        id=rows[0].id,
        scopes=frozenset(rows[0].scopes.split()),
        handle_ids=handle_ids or None,
        last_used_at=rows[0].last_used_at,
    )


def needs_use_recorded(key: ActiveKey, now: datetime) -> bool:
    return key.last_used_at is None or key.last_used_at <= now - LAST_USED_RESOLUTION


async def record_use(session: AsyncSession, key_id: int, now: datetime) -> None:
    """Set `last_used_at`, unless another request did within the last minute."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def get_api_key(session: AsyncSession, key_id: int, *, sight: Sight = None) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise ApiKeyNotFound
    if sight is not None:
        restriction = (await handle_ids_by_key(session, [key.id])).get(key.id)
        if not sees_all(sight, restriction):
            raise ApiKeyNotFound
    return key


async def list_api_keys_after(
    session: AsyncSession, after_id: int | None, limit: int
) -> Sequence[ApiKey]:
    """Up to `limit` keys with ids above `after_id`, oldest first (keyset pagination)."""
    query = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if after_id is not None:
        query = query.where(ApiKey.id > after_id)
    return (await session.scalars(query)).all()


async def handle_names_by_key(
    session: AsyncSession, key_ids: Sequence[int]
) -> dict[int, list[str]]:
    """The names of the handles each key is restricted to (absent: unrestricted)."""
    names: dict[int, list[str]] = {}
    if not key_ids:
        return names
    rows = await session.execute(
        select(api_key_handles.c.api_key_id, Handle.name)
        .join(Handle, Handle.id == api_key_handles.c.handle_id)
        .where(api_key_handles.c.api_key_id.in_(key_ids))
        .order_by(Handle.name)
    )
    for key_id, name in rows:
        names.setdefault(key_id, []).append(name)
    return names


async def handle_ids_by_key(
    session: AsyncSession, key_ids: Sequence[int]
) -> dict[int, frozenset[int]]:
    """The ids of the handles each key is restricted to (absent: unrestricted)."""
    if not key_ids:
        return {}
    rows = await session.execute(
        select(api_key_handles.c.api_key_id, api_key_handles.c.handle_id).where(
            api_key_handles.c.api_key_id.in_(key_ids)
        )
    )
    restrictions: dict[int, set[int]] = {}
    for key_id, handle_id in rows:
        restrictions.setdefault(key_id, set()).add(handle_id)
    return {key_id: frozenset(ids) for key_id, ids in restrictions.items()}
