"""Finding handles by name for callers that see every handle (the CLI, the admin of every
handle); a caller restricted to handles goes through `app.handles.visibility`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.handles.visibility import Sight, find_visible_handle, visible_only

__all__ = ["get_handle", "list_handles"]


async def get_handle(session: AsyncSession, name: str) -> Handle:
    """A handle by name (a leading '@' and case do not matter), or `HandleNotFound`."""
    return await find_visible_handle(session, name, None)


async def list_handles(session: AsyncSession, *, sight: Sight = None) -> Sequence[Handle]:
    """Every handle the caller may see (all by default), by name."""
    query = select(Handle).where(visible_only(Handle.id, sight)).order_by(Handle.name)
    return (await session.scalars(query)).all()
