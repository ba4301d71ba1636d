"""Errors of the landing-page domain."""

from __future__ import annotations

from app.errors import Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed

__all__ = [
    "GiftFileTooLarge",
    "InvalidGiftFile",
    "InvalidSlug",
    "PageNotFound",
    "SlugTaken",
    "readable_size",
]


class PageNotFound(NotFound):
    def __init__(self, slug: str | None = None) -> None:
        # Visitors get the vague message; the owner's tools name the slug they asked for.
        super().__init__(
            f"There is no page with the slug {slug!r}."
            if slug is not None
            else "This page does not exist or is not published."
        )


class SlugTaken(Conflict):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"The page slug {slug!r} is already taken.", errors=[FieldError("slug", "taken")]
        )


class InvalidSlug(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError("slug", message)])


class InvalidGiftFile(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid gift file: {message}", errors=[FieldError("gift", message)])


def readable_size(size: int) -> str:
    """`25 MB`, `500 KB`: a limit as an owner reads it."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{max(size // 1024, 1)} KB"


class GiftFileTooLarge(PayloadTooLarge):
    def __init__(self, limit_bytes: int) -> None:
        message = f"A gift file has at most {readable_size(limit_bytes)}."
        super().__init__(message, errors=[FieldError("gift", message)])
