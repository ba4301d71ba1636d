"""Files an owner uploads in the admin: gift files and hero images, typed by their content.

A file's name and the browser's Content-Type say what the sender claims, so neither is
believed: the first bytes are read with `filetype` and only the types below are kept. The file
is stored in the database (`app.pages.files`) under a random name with the extension of the
type found, served with that type, and the original name is kept only as the gift's download
name. A refused file leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import BinaryIO

import filetype
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import FieldError, PayloadTooLarge, ValidationFailed
from app.pages import files
from app.pages import service as pages
from app.pages.exceptions import GiftFileTooLarge, InvalidGiftFile, readable_size
from app.pages.files import MEDIA_PREFIX
from app.pages.models import FileKind

__all__ = [
    "GIFT_TYPES",
    "IMAGE_TYPES",
    "MAX_IMAGE_BYTES",
    "MEDIA_PREFIX",
    "UploadRefused",
    "UploadTooLarge",
    "store_gift_upload",
    "store_image_upload",
]

# What a gift file may be, and the extension it is stored (and so served) with.
GIFT_TYPES = {
    "application/pdf": ".pdf",
    "application/epub+zip": ".epub",
    "application/zip": ".zip",
    "image/png": ".png",
    "image/apng": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}
GIFT_TYPE_NAMES = "PDF, EPUB, ZIP, PNG, JPEG, WebP, MP3 or MP4"
IMAGE_TYPES = {
    "image/png": ".png",
    "image/apng": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}
IMAGE_TYPE_NAMES = "PNG, JPEG, WebP or GIF"
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# The type a file is served with when it is not the type found (an animated PNG is a PNG).
_SERVED_AS = {"image/apng": "image/png"}
# filetype reads at most this many bytes of a file.
_SNIFF_BYTES = 8192


class UploadRefused(ValidationFailed):
    """A 422 naming the form field of the refused file."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"Invalid upload: {field}: {message}", errors=[FieldError(field, message)])


class UploadTooLarge(PayloadTooLarge):
    """A 413 naming the form field of the file that is too large."""

    def __init__(self, field: str, limit: int) -> None:
        message = f"The file has more than {readable_size(limit)}."
        super().__init__(message, errors=[FieldError(field, message)])


def _sniff(stream: BinaryIO) -> str | None:
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    kind = filetype.guess(head) if head else None
    return kind.mime if kind is not None else None


def _size(stream: BinaryIO) -> int:
    size = stream.seek(0, 2)
    stream.seek(0)
    return size


async def store_gift_upload(
    session: AsyncSession,
    settings: Settings,
    stream: BinaryIO,
    original_name: str,
    *,
    field: str = "gift_file",
) -> str:
    """Check and store an uploaded gift file in the caller's transaction; returns its stored
    name (the page's `gift_value`)."""
    if await asyncio.to_thread(_size, stream) > settings.max_gift_bytes:
        raise UploadTooLarge(field, settings.max_gift_bytes)
    found = await asyncio.to_thread(_sniff, stream) or ""
    extension = GIFT_TYPES.get(found)
    if extension is None:
        raise UploadRefused(field, f"This file is not a {GIFT_TYPE_NAMES} file (by its content).")
    try:
        return await pages.store_gift_file(
            session,
            settings,
            stream,
            original_name,
            extension=extension,
            content_type=_SERVED_AS.get(found, found),
        )
    except GiftFileTooLarge:
        raise UploadTooLarge(field, settings.max_gift_bytes) from None
    except InvalidGiftFile as exc:
        raise UploadRefused(field, exc.errors[0].message if exc.errors else str(exc)) from None


async def store_image_upload(
    session: AsyncSession, stream: BinaryIO, *, field: str = "hero_image_file"
) -> str:
    """Check and store an uploaded image in the caller's transaction; returns the path it is
    served at (`/media/…`), which a page keeps as its image URL."""
    if await asyncio.to_thread(_size, stream) > MAX_IMAGE_BYTES:
        raise UploadTooLarge(field, MAX_IMAGE_BYTES)
    found = await asyncio.to_thread(_sniff, stream) or ""
    extension = IMAGE_TYPES.get(found)
    if extension is None:
        raise UploadRefused(field, f"This file is not a {IMAGE_TYPE_NAMES} image (by its content).")
    stored = secrets.token_hex(16) + extension
    try:
        await files.save_file(
            session,
            stored,
            FileKind.IMAGE,
            stream,
            limit=MAX_IMAGE_BYTES,
            content_type=_SERVED_AS.get(found, found),
        )
    except GiftFileTooLarge:
        raise UploadTooLarge(field, MAX_IMAGE_BYTES) from None
    return MEDIA_PREFIX + stored
