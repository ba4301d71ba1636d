"""Keyset pagination for `/api/v1` lists: opaque signed cursors, `limit`, and the
`Link: <…>; rel="next"` header. Never OFFSET: a page is "the rows after this sort key".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from app import patterns
from app.errors import FieldError, ValidationFailed
from app.signing import BadSignature, Signer

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CursorCodec",
    "CursorCodecDep",
    "CursorQuery",
    "InvalidCursor",
    "LimitQuery",
    "next_link",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 500


class InvalidCursor(ValidationFailed):
    def __init__(self) -> None:
        message = "This cursor is not one this API gave out for this list; start without one."
        super().__init__(message, errors=[FieldError("cursor", message)])


class CursorCodec:
    """Cursors are signed, so a client can only continue where a page ended, never craft one;
    each names the ordering it belongs to, so it cannot be used with another."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, "api-cursor")

    def encode(self, ordering: str, key: Sequence[str | int]) -> str:
        return self._signer.sign({"o": ordering, "k": list(key)})

    def decode(self, cursor: str, ordering: str, length: int) -> list[Any]:
        """The sort key in `cursor`, or `InvalidCursor` (forged, garbled, another ordering)."""
        try:
            data = self._signer.unsign(cursor)
        except BadSignature as exc:
            raise InvalidCursor from exc
        key = data.get("k")
        if data.get("o") != ordering or not isinstance(key, list) or len(key) != length:
            raise InvalidCursor
        return key


@lru_cache(maxsize=4)
def _codec(secret_key: str) -> CursorCodec:
    return CursorCodec(secret_key)


async def _cursor_codec(request: Request) -> CursorCodec:
    return _codec(request.app.state.settings.secret_key.get_secret_value())


CursorCodecDep = Annotated[CursorCodec, Depends(_cursor_codec)]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"Items per page, 1 to {MAX_LIMIT}.",
        examples=[DEFAULT_LIMIT],
    ),
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=patterns.CURSOR,
        description="`next_cursor` of the previous page; omit it for the first page.",
    ),
]


def next_link(request: Request, cursor: str | None) -> dict[str, str]:
    """The `Link` header of a page that has a next one (a relative URL, valid behind proxies)."""
    if cursor is None:
        return {}
    url = request.url.include_query_params(cursor=cursor)
    return {"Link": f'<{url.path}?{url.query}>; rel="next"'}
