"""HTML views of landing pages. `GET /p/{slug}` is answered by the one link's fast path
(`app.links.views`), which records the visit; the opt-in form posts here.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
