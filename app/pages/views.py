"""`GET /media/{name}`: the images owners upload in the admin (hero images), served by this
server so a landing page loads nothing from elsewhere. Public, like the pages showing them;
the names are random, so nothing can be listed or guessed. The files are in the database
(`app.pages.files`), so every replica serves them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.db import Database
from app.pages.file_responses import uploaded_file_response
from app.pages.models import FileKind

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
# The name changes with the content, so the file may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/media/{name}")
async def media(name: str, request: Request) -> Response:
    database: Database = request.app.state.database
    async with database.session(write=False) as session:
        return await uploaded_file_response(
            request, session, name, FileKind.IMAGE, cache_control=IMMUTABLE
        )
