"""Bulk exports: CSV and NDJSON of every lead matching the list's filters, produced in chunks
(here of 3 rows, so several chunks are exercised), and CSV safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.leads.exports import CSV_COLUMNS, csv_cell
from tests.databases import DatabaseUnderTest, make_settings
from tests.factories import World, add_lead, add_leads, bearer

CHUNK = 3


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, database.settings.effective_database_url, api_export_chunk_size=CHUNK
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+33 6 12", "'+33 6 12"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("anna@example.com", "anna@example.com"),
        ("a=b", "a=b"),
        (None, ""),
        ({"k": "=x"}, '{"k": "=x"}'),
        ({}, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


async def test_csv_export_is_complete_and_formula_safe(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await add_leads(session, world.anna_page, 10)
    await add_lead(
        session,
        world.anna_page,
        "-2+3@example.com",
        name='=HYPERLINK("http://evil.example","click")',
        campaign="@campaign",
        fields={"note": "+1 call me"},
    )
    await session.commit()

    response = await client.get(
        "/api/v1/leads/export.csv", params={"handle": "anna"}, headers=bearer(world.keys["read"])
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + 12  # header, world's lead, 10 leads, the hostile one
    ids = [int(row[0]) for row in rows[1:]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 12
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    hostile = next(row for row in rows if row[1].startswith("'-2+3"))
    assert hostile[2] == '\'=HYPERLINK("http://evil.example","click")'
    assert json.loads(hostile[-1]) == {"note": "+1 call me"}


async def test_ndjson_export_streams_in_chunks(
    app: Any, session: AsyncSession, world: World
) -> None:
    await add_leads(session, world.anna_page, 10)
    await session.commit()
    body_messages = 0

    async def counting_app(scope: Any, receive: Any, send: Any) -> None:
        async def counting_send(message: Any) -> None:
            nonlocal body_messages
            if message["type"] == "http.response.body" and message.get("body"):
                body_messages += 1
            await send(message)

        await app(scope, receive, counting_send)

    transport = httpx.ASGITransport(app=counting_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            "/api/v1/leads/export.ndjson",
            params={"status": "confirmed"},
            headers=bearer(world.keys["read"]),
        )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 12  # both handles' leads: the key is unrestricted
    assert len({line["id"] for line in lines}) == 12
    assert body_messages == -(-12 // CHUNK)  # one message per chunk, nothing buffered whole
    assert {"email", "page", "handle", "status", "source"} <= set(lines[0])


async def test_exports_take_the_lists_filters(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    for number in range(5):
        await add_lead(session, world.bob_page, f"yt{number}@example.com", source="youtube")
    await session.commit()
    headers = bearer(world.keys["read"])
    response = await client.get(
        "/api/v1/leads/export.ndjson", params={"source": "youtube"}, headers=headers
    )
    assert [json.loads(line)["email"] for line in response.text.splitlines()] == [
        f"yt{number}@example.com" for number in range(5)
    ]
    empty = await client.get(
        "/api/v1/leads/export.csv", params={"source": "reddit"}, headers=headers
    )
    assert empty.text.splitlines() == [",".join(CSV_COLUMNS)]
    unknown = await client.get("/api/v1/leads/export.csv", params={"page": "nope"}, headers=headers)
    assert unknown.status_code == 404
