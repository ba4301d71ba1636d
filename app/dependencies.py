"""Request dependencies every domain's routes share: the instance's public base URL, and the hook
that makes a committed change reach the public pages' caches at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import SessionDep

__all__ = ["BaseUrlDep", "ForgetPublicCaches", "PublicCacheForgetter"]

# Called with the request's session; forgets the cached routing and pages when it commits.
PublicCacheForgetter = Callable[[AsyncSession], None]


async def _base_url(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.base_url


async def _forget_public_caches(request: Request, session: SessionDep) -> None:
    # The one link caches routing and pages for a few seconds; this replica forgets them at
    # commit, other replicas within their cache's lifetime. The lifespan sets the forgetter, so
    # the routes that change handles and pages need not know who caches what.
    forget: PublicCacheForgetter = request.app.state.forget_public_caches
    forget(session)


BaseUrlDep = Annotated[str, Depends(_base_url)]
ForgetPublicCaches = Depends(_forget_public_caches)
