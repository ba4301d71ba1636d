"""Bulk exports of leads as CSV and NDJSON, produced chunk by chunk (constant memory).

CSV cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
return) are prefixed with a single quote, so an address like `=HYPERLINK(…)@x.com` stays text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from app.leads.queries import LeadRow
from app.leads.schemas import LeadRead

__all__ = ["CSV_COLUMNS", "csv_cell", "csv_stream", "ndjson_stream"]

CSV_COLUMNS = (
    "id", "email", "name", "page", "page_id", "handle", "handle_id", "status", "source",
    "medium", "campaign", "variant", "newsletter_consent", "consent_version", "created_at",
    "updated_at", "confirmed_at", "customer_value", "customer_currency", "fields",
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell's text, neutralised when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):  # as in JSON, not Python's True/False
        return "true" if value else "false"
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


async def csv_stream(chunks: AsyncIterator[list[LeadRow]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode("utf-8")
    async for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            record = LeadRead.from_row(row).model_dump(mode="json")
            writer.writerow([csv_cell(record[column]) for column in CSV_COLUMNS])
        yield buffer.getvalue().encode("utf-8")


async def ndjson_stream(chunks: AsyncIterator[list[LeadRow]]) -> AsyncIterator[bytes]:
    async for rows in chunks:
        yield "".join(LeadRead.from_row(row).model_dump_json() + "\n" for row in rows).encode(
            "utf-8"
        )
