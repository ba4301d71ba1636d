"""Pure routing rules: which route a visitor gets, and which external targets are acceptable."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["MAX_TARGET_URL_LENGTH", "RouteView", "check_external_url", "choose_route"]

MAX_TARGET_URL_LENGTH = 2048
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


@dataclass(frozen=True, slots=True)
class RouteView:
    """The part of a route the hot path needs; immutable so it can be cached and shared."""

    id: int
    source: str | None
    variant: str
    weight: int
    page_id: int | None
    target_url: str | None


def choose_route(routes: Sequence[RouteView], source: str, sticky_key: str) -> RouteView | None:
    """The route for a visitor from `source`, or None for the handle's default page.

    Routes for the visitor's source win over routes for any source (`source` None). Among the
    candidates, the weights split visitors; the split is a hash of `sticky_key`, so the same
    visitor (the daily-salted visitor hash) gets the same variant all day.
    """
    candidates = [r for r in routes if r.source == source and r.weight > 0]
    if not candidates:
        candidates = [r for r in routes if r.source is None and r.weight > 0]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    total = sum(r.weight for r in candidates)
    digest = hashlib.blake2b(sticky_key.encode("utf-8"), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total
    for route in candidates:
        point -= route.weight
        if point < 0:
            return route
    return candidates[-1]  # unreachable: the points add up to `total`


def check_external_url(url: str) -> str | None:
    """Why `url` cannot be a redirect target, or None when it can.

    Only absolute http(s) URLs with a host are accepted: no `javascript:` or `data:`, no
    scheme-relative `//host`, no backslashes or control characters (browsers read `\\` as `/`),
    no credentials in the URL, nothing longer than 2,048 characters.
    """
    if len(url) > MAX_TARGET_URL_LENGTH:
        return f"A URL has at most {MAX_TARGET_URL_LENGTH} characters."
    if _UNSAFE_URL_CHARS.search(url):
        return "A URL cannot contain spaces, control characters or backslashes."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in {"http", "https"}:
        return "Only http:// and https:// URLs can be targets."
    if not parts.hostname or parts.netloc.startswith("@"):
        return "The URL needs a host name."
    if parts.username is not None or parts.password is not None:
        return "A target URL cannot carry a user name or password."
    if port == 0:
        return "This is not a valid URL."
    return None
