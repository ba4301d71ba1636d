"""`GET /media/{name}`: the images owners upload in the admin (hero images), served by this
server so a landing page loads nothing from elsewhere. Public, like the pages showing them;
the names are random, so nothing can be listed or guessed."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.config import Settings
from app.pages.exceptions import PageNotFound
from app.pages.uploads import media_path

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/media/{name}")
async def media(name: str, request: Request) -> FileResponse:
    settings: Settings = request.app.state.settings
    path = media_path(settings, name)
    if path is None or not await anyio.Path(path).is_file():
        raise PageNotFound
    # The name changes with the content, so the file may be cached for good.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})
