"""Which handles a caller may see: the one rule every service applies to API keys (and owner
accounts) restricted to handles.

A caller's sight is `None` (every handle) or the set of handle ids it was granted. Anything on a
handle out of sight does not exist for that caller: it gets the same 404 as for a missing thing,
so a restricted key cannot even learn that another handle's page, lead or endpoint exists.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeAlias

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.handles.exceptions import HandleNotFound
from app.handles.models import Handle
from app.handles.names import can_name_a_handle, handle_key

__all__ = ["Sight", "find_visible_handle", "sees", "sees_all", "visible_only"]

# None: every handle; otherwise the ids of the handles granted.
Sight: TypeAlias = Collection[int] | None


def sees(sight: Sight, handle_id: int | None) -> bool:
    """Whether a caller with `sight` may see something that belongs to `handle_id`."""
    return sight is None or (handle_id is not None and handle_id in sight)


def sees_all(sight: Sight, handle_ids: Collection[int] | None) -> bool:
    """Whether a caller may see something that spans `handle_ids` (None: every handle, which
    only a caller who sees every handle may)."""
    if sight is None:
        return True
    return handle_ids is not None and all(handle_id in sight for handle_id in handle_ids)


def visible_only(
    column: ColumnElement[int] | QueryableAttribute[int], sight: Sight
) -> ColumnElement[bool]:
    """The SQL condition that keeps the rows of `column`'s handles a caller may see."""
    return true() if sight is None else column.in_(list(sight))


async def find_visible_handle(
    session: AsyncSession, name: str, sight: Sight, *, field: str | None = None
) -> Handle:
    """A handle by name (a leading '@' and case do not matter), if the caller may see it; one
    out of sight is the same `HandleNotFound` as a missing one (`field` names the input)."""
    key = handle_key(name)
    handle = None
    if can_name_a_handle(key):
        handle = await session.scalar(select(Handle).where(Handle.name == key))
    if handle is None or not sees(sight, handle.id):
        raise HandleNotFound(name, field=field)
    return handle
