"""The naming rules of handles (the name in `/@name`): pure functions, used by every service,
the CLI and the API's schemas."""

from __future__ import annotations

import re

from app.handles.exceptions import InvalidHandle

__all__ = [
    "HANDLE_PATTERN",
    "RESERVED_HANDLES",
    "can_name_a_handle",
    "handle_key",
    "normalize_handle_name",
]

HANDLE_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_.-]{0,28}[a-z0-9])?")
# Names that are, or could become, paths or words of the service itself.
RESERVED_HANDLES = frozenset(
    {
        "admin", "api", "static", "assets", "p", "c", "g", "u", "healthz", "readyz", "metrics",
        "docs", "redoc", "openapi", "openapi.json", "login", "logout", "signin", "signup",
        "settings", "account", "help", "support", "about", "leadlink", "root", "www", "mail",
        "favicon.ico", "robots.txt", "well-known", ".well-known", "null", "undefined",
    }
)  # fmt: skip


def handle_key(raw: str) -> str:
    """The form a handle is stored and looked up in: `@Anna ` and `anna` name the same handle."""
    return raw.strip().lstrip("@").lower()


def can_name_a_handle(key: str) -> bool:
    """Whether a handle can be stored under `key` (a `handle_key`). A lookup of any other key
    finds nothing without asking the database: PostgreSQL refuses a query holding a NUL, which
    a request can carry in a path, a query string or a form."""
    return HANDLE_PATTERN.fullmatch(key) is not None


def normalize_handle_name(raw: str) -> str:
    """`handle_key`, checked: raise `InvalidHandle` with a message a creator can act on."""
    name = handle_key(raw)
    if not name:
        raise InvalidHandle("A handle cannot be empty.")
    if len(name) > 30:
        raise InvalidHandle("A handle has at most 30 characters.")
    if not HANDLE_PATTERN.fullmatch(name):
        raise InvalidHandle(
            "A handle uses letters a-z, digits, '.', '_' or '-', and starts and ends with a "
            "letter or digit."
        )
    if name in RESERVED_HANDLES:
        raise InvalidHandle(f"The handle {name!r} is reserved; choose another.")
    return name
