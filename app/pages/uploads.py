"""Files an owner uploads in the admin: gift files and hero images, typed by their content.

A file's name and the browser's Content-Type say what the sender claims, so neither is
believed: the first bytes are read with `filetype` and only the types below are kept. The file
is stored under a random name with the extension of the type found (so it is served with that
type), and the original name is kept only as the gift's download name. A refused file leaves
nothing behind.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import BinaryIO

import filetype

from app.config import Settings
from app.errors import FieldError, PayloadTooLarge, ValidationFailed
from app.pages import service as pages
from app.pages.exceptions import GiftFileTooLarge, InvalidGiftFile, readable_size

__all__ = [
    "GIFT_TYPES",
    "IMAGE_TYPES",
    "MAX_IMAGE_BYTES",
    "MEDIA_DIR",
    "MEDIA_PREFIX",
    "UploadRefused",
    "UploadTooLarge",
    "media_path",
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
MEDIA_DIR = "media"
MEDIA_PREFIX = "/media/"
_MEDIA_NAME = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|webp|gif)")
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


def store_gift_upload(
    settings: Settings, stream: BinaryIO, original_name: str, *, field: str = "gift_file"
) -> str:
    """Check and store an uploaded gift file; returns its stored name (the page's
    `gift_value`). Blocking file I/O: call it in a worker thread."""
    if _size(stream) > settings.max_gift_bytes:
        raise UploadTooLarge(field, settings.max_gift_bytes)
    extension = GIFT_TYPES.get(_sniff(stream) or "")
    if extension is None:
        raise UploadRefused(field, f"This file is not a {GIFT_TYPE_NAMES} file (by its content).")
    try:
        return pages.store_gift_file(settings, stream, original_name, extension=extension)
    except GiftFileTooLarge:
        raise UploadTooLarge(field, settings.max_gift_bytes) from None
    except InvalidGiftFile as exc:
        raise UploadRefused(field, exc.errors[0].message if exc.errors else str(exc)) from None


def store_image_upload(
    settings: Settings, stream: BinaryIO, *, field: str = "hero_image_file"
) -> str:
    """Check and store an uploaded image; returns the path it is served at (`/media/…`), which
    a page keeps as its image URL. Blocking file I/O: call it in a worker thread."""
    if _size(stream) > MAX_IMAGE_BYTES:
        raise UploadTooLarge(field, MAX_IMAGE_BYTES)
    extension = IMAGE_TYPES.get(_sniff(stream) or "")
    if extension is None:
        raise UploadRefused(field, f"This file is not a {IMAGE_TYPE_NAMES} image (by its content).")
    stored = secrets.token_hex(16) + extension
    try:
        pages.store_file(settings.data_dir / MEDIA_DIR, stored, stream, MAX_IMAGE_BYTES)
    except GiftFileTooLarge:
        raise UploadTooLarge(field, MAX_IMAGE_BYTES) from None
    return MEDIA_PREFIX + stored


def media_path(settings: Settings, name: str) -> Path | None:
    """Where an uploaded image is, or None for a name `store_image_upload` cannot have made."""
    if not _MEDIA_NAME.fullmatch(name):
        return None
    return settings.data_dir / MEDIA_DIR / name
