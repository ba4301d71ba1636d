"""Uploaded files (gift files and hero images) kept in the database, not on a server's disk.

Every replica of `leadlink serve` reads the one database, so a file uploaded through one is
served by all, and a backup of the database holds the files with the pages that use them. A
file is written in chunks of `CHUNK_BYTES` inside the caller's transaction (a page saved with
its file, or neither), read back one chunk per short query (a download never holds a database
session, nor the whole file in memory), and removed when a change leaves no page using it.

Versions before the database store kept files under `DATA_DIR/gifts` and `DATA_DIR/media`:
such a file is still served from there (`disk_path`) until `import_files_from_disk`
(`leadlink migrate`) copies it in.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.db import Database, utcnow
from app.pages.exceptions import GiftFileTooLarge
from app.pages.models import FileKind, GiftKind, Page, StoredFile, StoredFileChunk

__all__ = [
    "CHUNK_BYTES",
    "GIFT_NAME",
    "IMAGE_NAME",
    "MEDIA_PREFIX",
    "FileVanished",
    "delete_unless_used",
    "disk_path",
    "find_file",
    "import_files_from_disk",
    "read_range",
    "save_file",
    "type_of_name",
]

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
# The names `save_file`'s callers make: 32 random hex digits and the type's extension.
GIFT_NAME = re.compile(r"[0-9a-f]{32}(?:\.[a-z0-9]{1,10})?")
IMAGE_NAME = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|webp|gif)")
MEDIA_PREFIX = "/media/"
# Where versions before the database store kept the files, under the data directory.
_DISK_FOLDERS = {FileKind.GIFT: "gifts", FileKind.IMAGE: "media"}
_NAMES = {FileKind.GIFT: GIFT_NAME, FileKind.IMAGE: IMAGE_NAME}


class FileVanished(Exception):
    """A stored file was removed while it was being sent (its page got another file)."""


def type_of_name(name: str) -> str:
    """The Content-Type a file is served with, from its stored name's extension (which an
    admin upload takes from the type found in its content)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


async def save_file(
    session: AsyncSession,
    name: str,
    kind: FileKind,
    source: BinaryIO,
    *,
    limit: int,
    content_type: str | None = None,
) -> StoredFile:
    """Store what `source` holds from its current position under `name`, in the caller's
    transaction; more than `limit` bytes is a `GiftFileTooLarge` and leaves no row behind.
    The blocking reads run in a worker thread, one chunk at a time."""
    file = StoredFile(
        name=name,
        kind=kind.value,
        content_type=content_type or type_of_name(name),
        size=0,
        chunk_size=CHUNK_BYTES,
        sha256="",
        created_at=utcnow(),
    )
    session.add(file)
    await session.flush()
    digest = hashlib.sha256()
    size = seq = 0
    try:
        while chunk := await asyncio.to_thread(source.read, CHUNK_BYTES):
            size += len(chunk)
            if size > limit:  # no announced size, or the file grew while it was read
                raise GiftFileTooLarge(limit)
            digest.update(chunk)
            await session.execute(
                insert(StoredFileChunk).values(file_name=name, seq=seq, data=chunk)
            )
            seq += 1
    except (GiftFileTooLarge, OSError):
        # The caller may go on and commit (a form shown again with its errors): nothing of
        # the refused file may stay. Other failures roll the whole transaction back anyway.
        session.expunge(file)
        await _remove(session, name)
        raise
    file.size, file.sha256 = size, digest.hexdigest()
    await session.flush()
    return file


async def _remove(session: AsyncSession, name: str) -> None:
    await session.execute(delete(StoredFileChunk).where(StoredFileChunk.file_name == name))
    await session.execute(
        delete(StoredFile)
        .where(StoredFile.name == name)
        .execution_options(synchronize_session=False)
    )


async def find_file(session: AsyncSession, name: str, kind: FileKind) -> StoredFile | None:
    """The stored file of that name and kind (a gift is never served as an image, nor the
    reverse), or None."""
    if not _NAMES[kind].fullmatch(name):
        return None
    return await session.scalar(
        select(StoredFile).where(StoredFile.name == name, StoredFile.kind == kind.value)
    )


async def read_range(
    database: Database, file: StoredFile, start: int, end: int
) -> AsyncIterator[bytes]:
    """Bytes `start` to `end` (exclusive) of a stored file, one chunk per short read
    transaction, so nothing is held between chunks while the client takes them. A chunk
    missing (the file was removed meanwhile) raises `FileVanished`."""
    position = start
    while position < end:
        seq, offset = divmod(position, file.chunk_size)
        async with database.session(write=False) as session:
            data = await session.scalar(
                select(StoredFileChunk.data).where(
                    StoredFileChunk.file_name == file.name, StoredFileChunk.seq == seq
                )
            )
        if data is None:
            raise FileVanished(file.name)
        piece = data[offset : offset + (end - position)]
        if not piece:
            raise FileVanished(file.name)
        position += len(piece)
        yield piece


def _used_by_a_page(name: str) -> ColumnElement[bool]:
    return or_(
        and_(Page.gift_kind == GiftKind.FILE.value, Page.gift_value == name),
        Page.hero_image_url == MEDIA_PREFIX + name,
        Page.og_image_url == MEDIA_PREFIX + name,
    )


async def delete_unless_used(session: AsyncSession, name: str) -> bool:
    """Remove a stored file that no page uses any more (a page's gift or image was replaced;
    a duplicated page shares its original's files), in the caller's transaction. Returns
    whether it was removed."""
    await session.flush()
    if await session.scalar(select(Page.id).where(_used_by_a_page(name)).limit(1)) is not None:
        return False
    if await session.scalar(select(StoredFile.name).where(StoredFile.name == name)) is None:
        return False
    await _remove(session, name)
    return True


def disk_path(data_dir: Path, name: str, kind: FileKind) -> Path | None:
    """Where a version before the database store kept this file (whether or not it is there),
    or None for a name no upload can have made, so a name never points outside the folder."""
    if not _NAMES[kind].fullmatch(name):
        return None
    return data_dir / _DISK_FOLDERS[kind] / name


async def _names_in_use(session: AsyncSession) -> dict[str, FileKind]:
    used: dict[str, FileKind] = {}
    rows = await session.execute(
        select(Page.gift_kind, Page.gift_value, Page.hero_image_url, Page.og_image_url)
    )
    for gift_kind, gift_value, hero, og in rows:
        if gift_kind == GiftKind.FILE.value and gift_value:
            used[gift_value] = FileKind.GIFT
        for url in (hero, og):
            if url and url.startswith(MEDIA_PREFIX):
                used[url.removeprefix(MEDIA_PREFIX)] = FileKind.IMAGE
    return used


async def import_files_from_disk(session: AsyncSession, data_dir: Path) -> int:
    """Copy into the database every file a page uses that is only on this server's disk
    (`DATA_DIR/gifts`, `DATA_DIR/media`), in the caller's transaction; returns how many.
    Safe to run again, and on each server whose disk has some of the files. The files on
    disk are left where they are."""
    copied = 0
    for name, kind in sorted((await _names_in_use(session)).items()):
        path = disk_path(data_dir, name, kind)
        if path is None or not path.is_file():
            continue
        if await session.scalar(select(StoredFile.name).where(StoredFile.name == name)):
            continue
        with path.open("rb") as source:
            await save_file(session, name, kind, source, limit=path.stat().st_size)
        copied += 1
    return copied
