"""What the visit tests check after the writer has run: the rollups (per page and per A/B
variant) equal the raw rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

RAW_COUNTS = text(
    """
    SELECT day, handle_id, COALESCE(page_id, 0) AS page_id, source,
           SUM(CASE WHEN kind = 'visit' THEN 1 ELSE 0 END) AS visits,
           COUNT(DISTINCT CASE WHEN kind = 'visit' THEN visitor_hash END) AS unique_visitors,
           SUM(CASE WHEN kind = 'preview' THEN 1 ELSE 0 END) AS previews
    FROM visits
    GROUP BY day, handle_id, COALESCE(page_id, 0), source
    """
)
ROLLUPS = text(
    "SELECT day, handle_id, page_id, source, visits, unique_visitors, previews FROM visit_rollups"
)
RAW_VARIANT_COUNTS = text(
    """
    SELECT day, handle_id, route_id, source, COUNT(*) FROM visits
    WHERE kind = 'visit' AND route_id IS NOT NULL
    GROUP BY day, handle_id, route_id, source
    """
)
VARIANT_ROLLUPS = text("SELECT day, handle_id, route_id, source, visits FROM variant_rollups")

Counts = dict[tuple[str, int, int, str], tuple[int, int, int]]


def _by_key(rows: Any) -> Counts:
    # SQLite hands raw-SQL dates back as text, PostgreSQL as `date`: compare them as text.
    return {
        (str(day), int(handle), int(page), source): (int(visits), int(uniques), int(previews))
        for day, handle, page, source, visits, uniques, previews in rows
    }


def _variants_by_key(rows: Any) -> dict[tuple[str, int, int, str], int]:
    return {
        (str(day), int(handle), int(route), source): int(visits)
        for day, handle, route, source, visits in rows
    }


async def assert_rollups_equal_raw_rows(connection: AsyncConnection) -> Counts:
    """Assert that `visit_rollups` and `variant_rollups` hold exactly the counts of the raw
    `visits` rows; return the per-page counts.
    """
    raw = _by_key(await connection.execute(RAW_COUNTS))
    rollups = _by_key(await connection.execute(ROLLUPS))
    assert rollups == raw
    raw_variants = _variants_by_key(await connection.execute(RAW_VARIANT_COUNTS))
    assert _variants_by_key(await connection.execute(VARIANT_ROLLUPS)) == raw_variants
    return raw
