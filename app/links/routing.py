"""Pure routing rules: which route a visitor gets (targets are checked by `app.external_urls`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RouteView", "choose_route"]


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
