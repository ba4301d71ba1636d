"""The opt-in writer's batch on PostgreSQL: one statement, which is the whole transaction.

Through SQLAlchemy a batch cost six round trips through the busy event loop (BEGIN, a multi-row
INSERT whose text, and so whose server-side PREPARE, changed with the number of rows, an
executemany per child table, the webhook check, COMMIT) plus SQLAlchemy's bind processing of
every value. Here each column travels as one array (`unnest`), so the statements' texts never
change (prepared once per connection, whatever the batch size, and no bind-parameter limit):

- the write: the leads, their consent records and first emails in one INSERT … ON CONFLICT DO
  NOTHING with two data-modifying CTEs, guarded by "no webhook endpoint could want
  `lead.created`". On a connection in autocommit (`app.db.Database.autocommit`) this one
  statement is a transaction of its own: no BEGIN or COMMIT round trip, and when its answer
  arrives it has committed (`synchronous_commit` stays at the server's `on`: the commit record
  is flushed first, and asyncpg returns on ReadyForQuery, which follows the commit).
- the read before it, only when no ids are in reserve: ids from the leads' sequence, which
  addresses the pages already know, and whether any endpoint exists.

The ids are taken before the emails are rendered because each email carries links signed with
its lead's id. Under load (`expected` > 1) the write also takes the ids of the next batch, so a
busy writer needs one round trip per batch, as SQLite's one hop to its thread. A consent
record or email is written only with its lead: an address the page knows (which the write's ON
CONFLICT finds when the read was skipped), one another process inserted in between, or one
twice in the batch inserts nothing and gets `None`. The sequence values such rows took are left
unused, as a rolled-back INSERT's are.
"""

# Only constant table and column names are formatted into the SQL below.
# ruff: noqa: S608

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, Numeric, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import UTCDateTime
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.leads.sqlite_batch import FirstSteps
from app.webhooks.models import EndpointStatus, WebhookEndpoint

__all__ = ["RESERVE_SECONDS", "LeadBatches"]

RESERVE_SECONDS = 1.0

LEADS: Table = Lead.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
CONSENTS: Table = ConsentEvent.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]

NEXT_IDS = (
    "ARRAY(SELECT nextval(pg_get_serial_sequence('leads', 'id')) "
    "FROM generate_series(1, {count}::integer))"
)
READ = (
    f"SELECT {NEXT_IDS.format(count='$1')} AS ids, "
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
    reserve_parameter = status_parameter + 1
    return (
        "WITH clear AS (SELECT NOT EXISTS (SELECT 1 FROM "
        f"{WebhookEndpoint.__tablename__} WHERE status <> ${status_parameter}) AS clear), "
        # In key order: two batches inserting the same addresses at once (replicas) wait for
        # each other on the unique index instead of deadlocking.
        f"new_leads AS ({lead.insert} WHERE (SELECT clear FROM clear) ORDER BY l.page_id, l.email "
        "ON CONFLICT (page_id, email) DO NOTHING RETURNING id), "
        f"consents AS ({consent.insert} WHERE c.lead_id IN (SELECT id FROM new_leads)), "
        f"emails AS ({email.insert} WHERE o.lead_id IN (SELECT id FROM new_leads)) "
        "SELECT (SELECT clear FROM clear) AS clear, ARRAY(SELECT id FROM new_leads) AS ids, "
        f"{NEXT_IDS.format(count=f'${reserve_parameter}')} AS reserved"
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


class LeadBatches:
    """The PostgreSQL batches of one opt-in writer, and the lead ids it took ahead of time.

    Under load the write statement also takes the ids of the next batch (about the size of the
    last ones), so that batch skips the read and its round trip. Ids older than
    `RESERVE_SECONDS` are not used: ids stay in the order the leads were written (lists sort
    by id), also across replicas. A reserve left over when the load stops is a gap in the
    ids, as a rolled-back INSERT leaves one.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ids: list[int] = []
        self._taken_at = float("-inf")
        self._endpoints = False  # the last look found an endpoint: read (and check) first
        self._monotonic = monotonic

    def _reserved(self, count: int) -> list[int]:
        if self._endpoints or self._monotonic() - self._taken_at > RESERVE_SECONDS:
            self._ids = []
        taken, self._ids = self._ids[:count], self._ids[count:]
        return taken

    async def insert_new_leads(
        self,
        connection: AsyncConnection,
        lead_rows: list[dict[str, Any]],
        first_steps: FirstSteps,
        *,
        expected: int = 0,
    ) -> list[int | None] | None:
        """Insert the leads (an address the page knows, or one twice in the batch, inserts
        nothing: `None` in its place) and their first steps; on an autocommit connection,
        committed on return. `expected`: the size of the next batch, if any is coming.

        Returns `None` and writes nothing when a webhook endpoint exists: `lead.created`
        events are built by `app.webhooks.events.emit`, which the caller's general path runs.
        """
        disabled = EndpointStatus.DISABLED.value
        ids = self._reserved(len(lead_rows))
        known: set[int] = set()
        if len(ids) < len(lead_rows):
            found = await connection.exec_driver_sql(
                READ,
                (
                    len(lead_rows) - len(ids),
                    [row["page_id"] for row in lead_rows],
                    [row["email"] for row in lead_rows],
                    disabled,
                ),
            )
            more, known_rows, self._endpoints = tuple(found.one())
            if self._endpoints:
                return None
            ids += sorted(more)
            known = {n - 1 for n in known_rows}  # WITH ORDINALITY counts from 1
        # An address twice in the batch: only its first opt-in can be new (no email rendered
        # for the others, which the write's ON CONFLICT would refuse anyway).
        first: dict[tuple[int, str], int] = {}
        for i, row in enumerate(lead_rows):
            first.setdefault((row["page_id"], row["email"]), i)
        candidates: list[int | None] = [
            None if i in known or first[(row["page_id"], row["email"])] != i else lead_id
            for i, (lead_id, row) in enumerate(zip(ids, lead_rows, strict=True))
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
        # Only when busy: one request at a time needs no reserve, and would leave gaps.
        reserve = max(0, expected - len(self._ids)) if expected > 1 else 0
        parameters = (
            *lead.arrays(new_rows),
            *consent.arrays(consents),
            *email.arrays(messages),
            disabled,
            reserve,
        )
        written = await connection.exec_driver_sql(statement, parameters)
        clear, inserted, reserved = tuple(written.one())
        if not clear:  # an endpoint was added since the last look: nothing was written
            self._endpoints = True
            return None
        if reserved:
            self._ids += sorted(reserved)
            self._taken_at = self._monotonic()
        new = set(inserted)
        return [lead_id if lead_id in new else None for lead_id in candidates]
