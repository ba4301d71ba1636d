"""The opt-in writer's batch on SQLite: every statement in one call on aiosqlite's thread.

Statement by statement through SQLAlchemy, a batch cost a handful of event-loop round trips and
per-row bind processing, and while it was on the database thread the requests waiting for it
left the loop idle. Here the rows are converted once to what SQLAlchemy's SQLite types store
(naive UTC timestamps as text, JSON as text) and written in one hop.

Only constant column names and placeholders are formatted into the statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import run_on_sqlite_thread
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.webhooks.models import EndpointStatus, WebhookEndpoint

__all__ = ["FirstSteps", "insert_new_leads"]

# Given the new ids (None where the address was known), the consent and outbox rows to add.
FirstSteps = Callable[[list[int | None]], tuple[list[dict[str, Any]], list[dict[str, Any]]]]

ANY_ENDPOINT = f"SELECT 1 FROM {WebhookEndpoint.__tablename__} WHERE status != ? LIMIT 1"  # noqa: S608


def _stored(value: Any) -> Any:
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _insert(table: str, columns: Sequence[str], suffix: str = "") -> str:
    placeholders = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}){suffix}"  # noqa: S608


def _rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    columns = list(rows[0]) if rows else []
    return columns, [tuple(_stored(row[column]) for column in columns) for row in rows]


async def insert_new_leads(
    connection: AsyncConnection, lead_rows: list[dict[str, Any]], first_steps: FirstSteps
) -> list[int | None] | None:
    """Insert the leads (an address the page knows, or one twice in the batch, inserts
    nothing: `None` in its place) and their first steps, in `connection`'s open transaction.

    Returns `None` and writes nothing when a webhook endpoint exists: `lead.created` events are
    built by `app.webhooks.events.emit`, which the caller's general path runs.
    """
    columns, values = _rows(lead_rows)
    insert_lead = _insert(
        Lead.__tablename__, columns, " ON CONFLICT (page_id, email) DO NOTHING RETURNING id"
    )

    def write(database: sqlite3.Connection) -> list[int | None] | None:
        if not database.in_transaction:  # the session's BEGIN makes the batch atomic
            raise RuntimeError("insert_new_leads needs the session's transaction to be open")
        if database.execute(ANY_ENDPOINT, (EndpointStatus.DISABLED.value,)).fetchone():
            return None
        lead_ids: list[int | None] = []
        for row in values:
            inserted = database.execute(insert_lead, row).fetchone()
            lead_ids.append(inserted[0] if inserted else None)
        consents, messages = first_steps(lead_ids)
        for table, rows in ((ConsentEvent.__tablename__, consents),
                            (OutboxMessage.__tablename__, messages)):  # fmt: skip
            if rows:
                row_columns, row_values = _rows(rows)
                database.executemany(_insert(table, row_columns), row_values)
        return lead_ids

    return await run_on_sqlite_thread(connection, write)
