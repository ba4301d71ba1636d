"""Dependencies of the handles and pages API: the instance's public base URL, and changes that
reach the one link as soon as they are committed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.db import SessionDep
from app.links.one_link import OneLink

__all__ = ["BaseUrlDep", "RefreshOneLink"]


async def _base_url(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.base_url


async def _refresh_one_link(request: Request, session: SessionDep) -> None:
    # The resolver caches routing and pages for a few seconds; this replica forgets them at
    # commit, other replicas within their cache's lifetime.
    one_link: OneLink = request.app.state.one_link
    one_link.resolver.invalidate_after_commit(session)


BaseUrlDep = Annotated[str, Depends(_base_url)]
RefreshOneLink = Depends(_refresh_one_link)
