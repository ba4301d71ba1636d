"""The bare ASGI endpoint: the server's ceiling on this machine.

Every request gets the same ``302 Location: /`` with an empty body, so whatever leadlink costs on
top of uvicorn shows up as the ratio between the two in ``bench.run``.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["app"]

Message = MutableMapping[str, Any]

_START: Message = {
    "type": "http.response.start",
    "status": 302,
    "headers": [(b"location", b"/"), (b"content-length", b"0")],
}
_BODY: Message = {"type": "http.response.body", "body": b""}


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer every HTTP request with the fixed redirect; other scope types need no answer."""
    if scope["type"] != "http":
        return
    await send(_START)
    await send(_BODY)
