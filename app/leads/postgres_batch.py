"""The opt-in writer's batch on PostgreSQL: two statements whose texts never change, the second of
which is the whole transaction.

Through SQLAlchemy a batch cost six round trips through the busy event loop (BEGIN, a multi-row
INSERT whose text, and so whose server-side PREPARE, changed with the number of rows, an
executemany per child table, the webhook check, COMMIT) plus SQLAlchemy's bind processing of
every value. Here each column travels as one array (`unnest`), so both statements are prepared
once per connection whatever the batch size, and no bind-parameter limit applies:

1. a read: ids from the leads' sequence for the whole batch, which of its addresses the pages
   already know, and whether any webhook endpoint could want `lead.created`;
2. the write: the leads, their consent records and first emails in one INSERT … ON CONFLICT DO
   NOTHING with two data-modifying CTEs. On a connection in autocommit
   (`app.db.Database.autocommit`) this one statement is a transaction of its own: no BEGIN or
   COMMIT round trip, and when its answer arrives it has committed (`synchronous_commit` is left
   at the server's `on`: the commit record is flushed first).

The ids are taken before the emails are rendered because each email carries links signed with
its lead's id. A consent record or email is written only with its lead: an address another
process inserted in between, or one twice in the batch, inserts nothing and gets `None`. The
sequence values such rows took are left unused, as a rolled-back INSERT's are.
"""

# Only constant table and column names are formatted into the SQL below.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, Numeric, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import UTCDateTime
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.leads.sqlite_batch import FirstSteps
from app.webhooks.models import EndpointStatus, WebhookEndpoint

__all__ = ["insert_new_leads"]

LEADS: Table = Lead.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
CONSENTS: Table = ConsentEvent.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]

READ = (
    "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('leads', 'id')) "
    "FROM generate_series(1, $1::integer)) AS ids, "
    "ARRAY(SELECT batch.n FROM unnest($2::bigint[], $3::text[]) "
    "WITH ORDINALITY AS batch(page_id, email, n) "
    "JOIN leads ON leads.page_id = batch.page_id AND leads.email = batch.email) AS known, "
    f"EXISTS (SELECT 1 FROM {WebhookEndpoint.__tablename__} WHERE status <> $4) AS announce"
)


def _array_type(table: Table, column: str) -> tuple[str, str]:
    """The array type a column's values travel as, and the cast back to the column's type.

    Text goes as `text[]`, not `varchar(n)[]`: an explicit cast to varchar(n) would cut an
    over-long value silently, where the INSERT's own assignment refuses it."""
    kind = table.c[column].type
    if isinstance(kind, JSON):
        return "text", "::json"
    if isinstance(kind, UTCDateTime):
        return "timestamptz", ""
    if isinstance(kind, Boolean):
        return "boolean", ""
    if isinstance(kind, Integer):
        return "bigint", ""
    if isinstance(kind, Numeric):
        return "numeric", ""
    return "text", ""


class _Rows:
    """The `SELECT … FROM unnest(…)` of a table's columns, numbered from `first_parameter`."""

    def __init__(self, table: Table, columns: Sequence[str], alias: str, first_parameter: int):
        self.table = table
        self.columns = list(columns)
        types = [_array_type(table, column) for column in columns]
        self.json_columns = frozenset(
            c for c, (_, cast) in zip(columns, types, strict=True) if cast
        )
        arrays = ", ".join(
            f"${first_parameter + i}::{array}[]" for i, (array, _) in enumerate(types)
        )
        selected = ", ".join(
            f"{alias}.{column}{cast}" for column, (_, cast) in zip(columns, types, strict=True)
        )
        self.insert = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {selected} "
            f"FROM unnest({arrays}) AS {alias}({', '.join(columns)})"
        )
        self.next_parameter = first_parameter + len(columns)

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        return [
            [json.dumps(row[column]) for row in rows]
            if column in self.json_columns
            else [row[column] for row in rows]
            for column in self.columns
        ]


def _write_statement(lead: _Rows, consent: _Rows, email: _Rows, status_parameter: int) -> str:
    return (
        "WITH clear AS (SELECT NOT EXISTS (SELECT 1 FROM "
        f"{WebhookEndpoint.__tablename__} WHERE status <> ${status_parameter}) AS clear), "
        f"new_leads AS ({lead.insert} WHERE (SELECT clear FROM clear) "
        "ON CONFLICT (page_id, email) DO NOTHING RETURNING id), "
        f"consents AS ({consent.insert} WHERE c.lead_id IN (SELECT id FROM new_leads)), "
        f"emails AS ({email.insert} WHERE o.lead_id IN (SELECT id FROM new_leads)) "
        "SELECT (SELECT clear FROM clear) AS clear, ARRAY(SELECT id FROM new_leads) AS ids"
    )


_statements: dict[tuple[tuple[str, ...], ...], tuple[_Rows, _Rows, _Rows, str]] = {}


def _statement(
    lead_columns: Sequence[str], consent_columns: Sequence[str], email_columns: Sequence[str]
) -> tuple[_Rows, _Rows, _Rows, str]:
    """The write statement for these columns (built once: the rows' keys never change)."""
    key = (tuple(lead_columns), tuple(consent_columns), tuple(email_columns))
    if key not in _statements:
        lead = _Rows(LEADS, ["id", *lead_columns], "l", 1)
        consent = _Rows(CONSENTS, consent_columns, "c", lead.next_parameter)
        email = _Rows(OUTBOX, email_columns, "o", consent.next_parameter)
        _statements[key] = (
            lead,
            consent,
            email,
            _write_statement(lead, consent, email, email.next_parameter),
        )
    return _statements[key]


async def insert_new_leads(
    connection: AsyncConnection, lead_rows: list[dict[str, Any]], first_steps: FirstSteps
) -> list[int | None] | None:
    """Insert the leads (an address the page knows, or one twice in the batch, inserts nothing:
    `None` in its place) and their first steps; on an autocommit connection, committed on return.

    Returns `None` and writes nothing when a webhook endpoint exists: `lead.created` events are
    built by `app.webhooks.events.emit`, which the caller's general path runs.
    """
    disabled = EndpointStatus.DISABLED.value
    found = await connection.exec_driver_sql(
        READ,
        (
            len(lead_rows),
            [row["page_id"] for row in lead_rows],
            [row["email"] for row in lead_rows],
            disabled,
        ),
    )
    ids, known, announce = tuple(found.one())
    if announce:
        return None
    known_rows = {n - 1 for n in known}  # WITH ORDINALITY counts from 1
    candidates: list[int | None] = [
        None if i in known_rows else lead_id for i, lead_id in enumerate(sorted(ids))
    ]
    if all(lead_id is None for lead_id in candidates):
        return candidates
    consents, messages = first_steps(candidates)
    new_rows = [
        {"id": lead_id, **row}
        for lead_id, row in zip(candidates, lead_rows, strict=True)
        if lead_id is not None
    ]
    lead, consent, email, statement = _statement(
        list(lead_rows[0]), list(consents[0]), list(messages[0])
    )
    parameters = (
        *lead.arrays(new_rows),
        *consent.arrays(consents),
        *email.arrays(messages),
        disabled,
    )
    written = await connection.exec_driver_sql(statement, parameters)
    clear, inserted = tuple(written.one())
    if not clear:  # an endpoint was added since the read: nothing was written
        return None
    new = set(inserted)
    return [lead_id if lead_id in new else None for lead_id in candidates]
