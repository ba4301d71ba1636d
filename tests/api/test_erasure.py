"""Erasure (`DELETE /api/v1/leads/{id}`): afterwards no table, stored API response, outbox
payload or log line holds the person's address, name or answers, and the counts stay."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models
from app.leads.models import ConsentEvent, Lead
from tests.factories import World, add_page, bearer

EMAIL = "erase.me@example.com"
NAME = "Zelda Quux"
ANSWER = "Quuxcorp Holdings"


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value if isinstance(value, str) else ""


async def _tables_holding(session: AsyncSession, needles: list[str]) -> list[str]:
    """Every table.column whose value contains one of `needles` (case-insensitive)."""
    found = []
    for table in models.Base.metadata.sorted_tables:
        for row in (await session.execute(select(table))).mappings():
            for column, value in row.items():
                text = _text(value).lower()
                found += [f"{table.name}.{column}" for needle in needles if needle.lower() in text]
    return found


async def _counts(session: AsyncSession) -> tuple[int, int]:
    leads = await session.scalar(select(func.count()).select_from(Lead))
    events = await session.scalar(select(func.count()).select_from(ConsentEvent))
    return int(leads or 0), int(events or 0)


async def test_erasure_leaves_no_personal_data_anywhere(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="leadlink")
    await add_page(
        session,
        world.anna,
        "course",
        consent_text="Send me the course",
        custom_fields=[{"key": "company", "label": "Company", "type": "text"}],
    )
    await session.commit()
    headers = {**bearer(world.keys["rw"]), "Idempotency-Key": "import-erase-me"}
    created = await client.post(
        "/api/v1/leads",
        json={"email": EMAIL, "name": NAME, "page": "course", "fields": {"company": ANSWER}},
        headers=headers,
    )
    assert created.status_code == 201
    lead_id = int(created.json()["id"])
    patched = await client.patch(
        f"/api/v1/leads/{lead_id}",
        json={"status": "customer", "value": "99", "currency": "EUR"},
        headers={**bearer(world.keys["rw"]), "Idempotency-Key": "mark-customer"},
    )
    assert patched.status_code == 200
    lead = await session.get_one(Lead, lead_id)
    lead.visit_ref = "v-visit-ref-1"
    await session.commit()
    assert set(await _tables_holding(session, [EMAIL, NAME, ANSWER])) >= {
        "leads.email",
        "outbox.payload",
        "idempotency_keys.response_body",
    }
    before = await _counts(session)

    erased = await client.delete(f"/api/v1/leads/{lead_id}", headers=bearer(world.keys["rw"]))

    assert erased.status_code == 204
    session.expire_all()
    assert await _tables_holding(session, [EMAIL, NAME, ANSWER, "v-visit-ref-1"]) == []
    assert await _counts(session) == before
    row = await session.get_one(Lead, lead_id)
    assert row.email == f"erased-{lead_id}@invalid"
    assert (row.name, row.fields, row.visit_ref) == (None, {}, None)
    assert row.erased_at is not None
    assert (row.status, str(row.customer_value)) == ("customer", "99.00")  # reports keep it
    for record in caplog.records:
        if not record.name.startswith("leadlink"):
            continue  # drivers' debug output (SQL parameters) is off in every deployment
        message = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert EMAIL not in message
        assert NAME not in message

    read = bearer(world.keys["read"])
    assert (await client.get(f"/api/v1/leads/{lead_id}", headers=read)).status_code == 404
    export = await client.get("/api/v1/leads/export", params={"email": EMAIL}, headers=read)
    assert export.json()["leads"] == []
    listed = await client.get("/api/v1/leads", params={"page": "course"}, headers=read)
    assert listed.json()["items"] == []
    # The person may sign up again: the address is free on that page.
    again = await client.post(
        "/api/v1/leads", json={"email": EMAIL, "page": "course"}, headers=bearer(world.keys["rw"])
    )
    assert again.status_code == 201
    assert int(again.json()["id"]) != lead_id
