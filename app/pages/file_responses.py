"""The HTTP answer for an uploaded file: a gift download at `/g/{token}`, an image at
`/media/{name}`.

A file in the database is streamed chunk by chunk (`files.read_range`), after the route's own
session is closed: a slow client holds no database connection and at most one chunk in memory.
The answer carries what a file on disk got from Starlette's `FileResponse`: Content-Type,
Content-Length, an ETag (the content's SHA-256), Last-Modified, Accept-Ranges, the route's
Cache-Control and, for a gift, Content-Disposition with the download name; `If-None-Match`
answers 304, and one byte range (`Range`, honoured under `If-Range`) 206, so a large download
can resume. Several ranges get the whole file (allowed by RFC 9110).

A file that an older version left on this server's disk and that is not in the database yet is
still served from there, with `FileResponse` as before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import anyio
from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.pages import files
from app.pages.exceptions import PageNotFound
from app.pages.models import FileKind, StoredFile

__all__ = ["disk_file_response", "stored_file_response", "uploaded_file_response"]

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


async def uploaded_file_response(
    request: Request,
    session: AsyncSession,
    name: str,
    kind: FileKind,
    *,
    cache_control: str,
    download_name: str | None = None,
) -> Response:
    """The answer for the uploaded file `name`: from the database, else from this server's
    disk where an older version stored it, else a 404. `session` only finds the file; the
    body is read after it is closed."""
    file = await files.find_file(session, name, kind)
    if file is not None:
        database: Database = request.app.state.database
        return stored_file_response(
            request, database, file, cache_control=cache_control, download_name=download_name
        )
    settings: Settings = request.app.state.settings
    path = files.disk_path(settings.data_dir, name, kind)
    if path is None or not await anyio.Path(path).is_file():
        raise PageNotFound
    return disk_file_response(path, cache_control=cache_control, download_name=download_name)


def _content_disposition(download_name: str) -> str:
    quoted = quote(download_name)
    if quoted != download_name:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{download_name}"'


class _Unsatisfiable(Exception):
    """The range asked for starts past the end of the file (416)."""


def _byte_range(request: Request, etag: str, size: int) -> tuple[int, int] | None:
    """The one range asked for as (start, end exclusive), or None for the whole file."""
    asked = request.headers.get("range")
    if asked is None or size == 0:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        return None  # the client's copy is another version: send the whole file
    found = _RANGE.fullmatch(asked.strip())
    if found is None:
        return None  # several ranges or another unit: the whole file
    first, last = found.groups()
    if not first:
        if not last or int(last) == 0:
            return None
        return max(size - int(last), 0), size
    start = int(first)
    if start >= size:
        raise _Unsatisfiable
    end = min(int(last) + 1, size) if last else size
    return (start, end) if end > start else None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def stored_file_response(
    request: Request,
    database: Database,
    file: StoredFile,
    *,
    cache_control: str,
    download_name: str | None = None,
) -> Response:
    """The answer for `file`, read from `database` while it is sent."""
    etag = f'"{file.sha256}"'
    headers = {
        "etag": etag,
        "last-modified": format_datetime(file.created_at, usegmt=True),
        "cache-control": cache_control,
        "accept-ranges": "bytes",
    }
    if download_name is not None:
        headers["content-disposition"] = _content_disposition(download_name)
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    status, start, end = 200, 0, file.size
    try:
        wanted = _byte_range(request, etag, file.size)
    except _Unsatisfiable:
        return Response(status_code=416, headers={"content-range": f"bytes */{file.size}"})
    if wanted is not None:
        status, (start, end) = 206, wanted
        headers["content-range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["content-length"] = str(end - start)
    return StreamingResponse(
        _body(database, file, start, end),
        status_code=status,
        headers=headers,
        media_type=file.content_type,
    )


async def _body(database: Database, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        async for piece in files.read_range(database, file, start, end):
            yield piece
    except files.FileVanished:
        # The headers are gone already: ending the body short makes the client see an
        # incomplete download (Content-Length), never a wrong file.
        logger.warning("the stored file %s was removed while it was sent", file.name)
        raise


def disk_file_response(
    path: Path, *, cache_control: str, download_name: str | None = None
) -> FileResponse:
    """A file an older version stored on this server's disk, served as it was then."""
    return FileResponse(
        path,
        media_type=files.type_of_name(path.name),
        filename=download_name,
        headers={"Cache-Control": cache_control},
    )
