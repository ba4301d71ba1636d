"""The leads API as a CRM uses it: list and filter, read, import with the form's rules, push
outcomes back, and export one person's data."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from tests.factories import World, add_lead, add_page, bearer

LEADS = "/api/v1/leads"


async def test_a_lead_reads_as_the_design_says(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{LEADS}/{world.anna_lead.id}", headers=bearer(world.keys["read"]))
    assert response.status_code == 200
    lead = response.json()
    assert lead["id"] == str(world.anna_lead.id)
    assert lead["page"] == "anna-guide"
    assert lead["page_id"] == str(world.anna_page.id)
    assert lead["handle"] == "anna"
    assert lead["handle_id"] == str(world.anna.id)
    assert lead["email"] == "fan@example.com"
    assert lead["name"] == "Fan"
    assert lead["status"] == "confirmed"
    assert lead["created_at"].endswith("Z")
    for field in ["source", "medium", "campaign", "variant", "confirmed_at", "customer_value"]:
        assert field in lead
    assert (await client.get(f"{LEADS}/abc", headers=bearer(world.keys["read"]))).status_code == 404


async def test_list_filters_and_links_to_the_next_page(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    for number in range(3):
        await add_lead(session, world.anna_page, f"tt{number}@example.com", source="tiktok")
    await session.commit()
    headers = bearer(world.keys["read"])

    first = await client.get(LEADS, params={"source": "tiktok", "limit": 2}, headers=headers)
    assert first.status_code == 200
    body = first.json()
    assert [item["email"] for item in body["items"]] == ["tt0@example.com", "tt1@example.com"]
    assert body["next_cursor"]
    link = first.headers["link"]
    assert link.startswith("</api/v1/leads?")
    assert link.endswith('>; rel="next"')
    following = await client.get(link[1 : link.index(">")], headers=headers)
    assert [item["email"] for item in following.json()["items"]] == ["tt2@example.com"]
    assert following.json()["next_cursor"] is None
    assert "link" not in following.headers

    by_handle = await client.get(LEADS, params={"handle": "bob"}, headers=headers)
    assert [item["email"] for item in by_handle.json()["items"]] == ["other@example.com"]
    by_page = await client.get(
        LEADS, params={"page": "anna-guide", "status": "confirmed"}, headers=headers
    )
    assert len(by_page.json()["items"]) == 4
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert (await client.get(LEADS, params={"created_after": later}, headers=headers)).json()[
        "items"
    ] == []


async def test_bad_list_parameters_are_named(client: httpx.AsyncClient, world: World) -> None:
    headers = bearer(world.keys["read"])
    cases: dict[str, dict[str, str | int]] = {
        "cursor": {"cursor": "not-a-cursor"},
        "limit": {"limit": 501},
        "source": {"source": "myspace"},
        "status": {"status": "lost"},
        "updated_after": {"updated_after": "yesterday"},
        # Found by schemathesis: unknown parameters were ignored, so a misspelt filter
        # answered with every lead.
        "updated_since": {"updated_since": "2026-11-22T10:00:00Z"},
        "handle": {"handle": ""},
        "page": {"page": ""},
    }
    for field, params in cases.items():
        response = await client.get(LEADS, params=params, headers=headers)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]]
    assert (await client.get(LEADS, params={"limit": 0}, headers=headers)).status_code == 422
    unknown = await client.get(LEADS, params={"handle": "nobody"}, headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "handle"


@pytest.mark.parametrize("path", [LEADS, f"{LEADS}/export.csv", f"{LEADS}/export.ndjson"])
@pytest.mark.parametrize("parameter", ["created_after", "updated_after"])
async def test_times_at_the_ends_of_the_calendar_are_a_422_or_an_answer_never_a_500(
    client: httpx.AsyncClient, world: World, path: str, parameter: str
) -> None:
    """An offset can push a time past year 1 or 9999 in UTC: named 422, not an overflow."""
    headers = bearer(world.keys["read"])
    for beyond in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = await client.get(path, params={parameter: beyond}, headers=headers)
        assert response.status_code == 422, (beyond, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == [parameter]
        assert "UTC" in response.json()["errors"][0]["message"]
    for edge in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59Z"):
        response = await client.get(path, params={parameter: edge}, headers=headers)
        assert response.status_code == 200, (edge, response.text)


async def test_a_cursor_only_works_with_its_own_ordering(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await add_lead(session, world.anna_page, "third@example.com")
    await session.commit()
    headers = bearer(world.keys["read"])
    by_id = (await client.get(LEADS, params={"limit": 1}, headers=headers)).json()
    since = (utcnow() - timedelta(days=3)).isoformat()
    mixed = await client.get(
        LEADS,
        params={"limit": 1, "cursor": by_id["next_cursor"], "updated_after": since},
        headers=headers,
    )
    assert mixed.status_code == 422
    assert mixed.json()["errors"][0]["field"] == "cursor"
    forged = by_id["next_cursor"][:-2] + ("AA" if not by_id["next_cursor"].endswith("AA") else "BB")
    response = await client.get(LEADS, params={"cursor": forged}, headers=headers)
    assert response.status_code == 422


async def test_import_uses_the_forms_rules_and_dedupes(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = bearer(world.keys["rw"])
    body = {
        "email": " New.Person@Example.COM ",
        "name": "New",
        "page": "anna-guide",
        "source": "youtube",
        "campaign": "launch",
        "status": "confirmed",
    }
    created = await client.post(LEADS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    lead = created.json()
    assert lead["email"] == "new.person@example.com"
    assert lead["status"] == "confirmed"
    assert lead["source"] == "youtube"
    assert lead["confirmed_at"] is not None
    assert created.headers["location"] == f"{LEADS}/{lead['id']}"

    again = await client.post(
        LEADS, json={**body, "email": "NEW.PERSON@example.com", "name": "Changed"}, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == lead["id"]
    assert again.json()["name"] == "New"
    count = await session.scalar(
        select(func.count()).select_from(Lead).where(Lead.email == "new.person@example.com")
    )
    assert count == 1
    # A confirmed import sends nothing; the ledger records it without a ticked box.
    queued = select(func.count()).select_from(OutboxMessage)
    assert await session.scalar(queued.where(OutboxMessage.lead_id == int(lead["id"]))) == 0
    kinds = (
        await session.scalars(
            select(ConsentEvent.kind)
            .where(ConsentEvent.lead_id == int(lead["id"]), ConsentEvent.checkbox.is_(False))
            .order_by(ConsentEvent.id)
        )
    ).all()
    assert list(kinds) == ["opt_in", "confirmed"]


async def test_a_pending_import_gets_the_confirmation_email(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    response = await client.post(
        LEADS,
        json={"email": "pending@example.com", "page": "anna-guide"},
        headers=bearer(world.keys["write"]),
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert response.json()["source"] == "other"
    message = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.lead_id == int(response.json()["id"]))
    )
    assert message is not None
    assert message.payload["to"] == "pending@example.com"
    assert message.payload["template"] == "confirm"


async def test_import_errors_name_their_fields(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await add_page(
        session,
        world.anna,
        "strict",
        name_field="required",
        custom_fields=[{"key": "company", "label": "Company", "type": "text", "required": True}],
    )
    await session.commit()
    headers = bearer(world.keys["write"])
    cases = [
        ({"email": "not-an-address", "page": "anna-guide"}, 422, "email"),
        ({"email": "a@example.com", "page": "strict", "fields": {"company": "X"}}, 422, "name"),
        ({"email": "a@example.com", "page": "strict", "name": "A"}, 422, "fields.company"),
        (
            {"email": "a@example.com", "page": "anna-guide", "fields": {"zip": "1"}},
            422,
            "fields.zip",
        ),
        ({"email": "a@example.com", "page": "anna-guide", "name": "A\nB"}, 422, "name"),
        ({"email": "a@example.com", "page": "anna-guide", "status": "customer"}, 422, "status"),
        ({"email": "a@example.com", "page": "anna-guide", "source": "fax"}, 422, "source"),
        ({"email": "a@example.com", "page": "no-such-page"}, 404, "page"),
        ({"email": "a@example.com", "page": "anna-guide", "extra": 1}, 422, "extra"),
    ]
    for body, status, field in cases:
        response = await client.post(LEADS, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], response.text


async def test_a_crm_marks_a_customer_and_changes_fields(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = bearer(world.keys["rw"])
    url = f"{LEADS}/{world.anna_lead.id}"
    before = (await client.get(url, headers=headers)).json()

    customer = await client.patch(
        url, json={"status": "customer", "value": "49.5", "currency": "eur"}, headers=headers
    )
    assert customer.status_code == 200, customer.text
    lead = customer.json()
    assert (lead["status"], lead["customer_value"], lead["customer_currency"]) == (
        "customer",
        "49.50",
        "EUR",
    )
    assert lead["updated_at"] > before["updated_at"]

    raised = await client.patch(url, json={"value": "60"}, headers=headers)
    assert (raised.json()["customer_value"], raised.json()["customer_currency"]) == ("60.00", "EUR")

    fields = await client.patch(
        url, json={"fields": {"crm_id": "0031x", "plan": "pro"}}, headers=headers
    )
    assert fields.json()["fields"] == {"crm_id": "0031x", "plan": "pro"}
    removed = await client.patch(url, json={"fields": {"plan": None}}, headers=headers)
    assert removed.json()["fields"] == {"crm_id": "0031x"}
    assert removed.json()["status"] == "customer"

    unsubscribed = await client.patch(url, json={"status": "unsubscribed"}, headers=headers)
    assert unsubscribed.json()["status"] == "unsubscribed"
    assert unsubscribed.json()["customer_value"] == "60.00"  # customer data stays
    refused = await client.patch(url, json={"status": "confirmed"}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "status"


async def test_bad_changes_are_named(client: httpx.AsyncClient, world: World) -> None:
    headers = bearer(world.keys["rw"])
    url = f"{LEADS}/{world.anna_lead.id}"
    cases = [
        ({"status": "customer", "value": "10"}, 409, "currency"),  # no currency on record
        ({"status": "customer", "value": "10", "currency": "EURO"}, 422, "currency"),
        ({"status": "customer", "value": "-1", "currency": "EUR"}, 422, "value"),
        ({"status": "customer", "value": "1.234", "currency": "EUR"}, 422, "value"),
        ({"status": "customer", "value": 10.001, "currency": "EUR"}, 422, "value"),
        ({"status": "customer", "value": -5, "currency": "EUR"}, 422, "value"),
        ({"status": "customer", "value": True, "currency": "EUR"}, 422, "value"),
        ({"status": "pending"}, 422, "status"),
        ({"fields": {"bad key": "x"}}, 422, "fields"),
        ({"fields": {"note": "two\nlines"}}, 422, "fields"),
        # Not a customer (now or before): a state conflict, not a malformed request.
        ({"status": "unsubscribed", "value": "1", "currency": "EUR"}, 409, "status"),
        ({"value": "5", "currency": "EUR"}, 409, "status"),
    ]
    for body, status, field in cases:
        response = await client.patch(url, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        fields = [error["field"] for error in response.json()["errors"]]
        assert any(name.startswith(field) for name in fields), response.text
    unchanged = await client.patch(url, json={}, headers=headers)
    assert unchanged.status_code == 200
    assert unchanged.json()["status"] == "confirmed"


@pytest.mark.parametrize(
    ("value", "stored"), [(49, "49.00"), (49.5, "49.50"), ("49.00", "49.00"), (0.29, "0.29")]
)
async def test_a_value_may_be_a_json_number_or_a_decimal_string(
    client: httpx.AsyncClient, world: World, value: object, stored: str
) -> None:
    response = await client.patch(
        f"{LEADS}/{world.anna_lead.id}",
        json={"status": "customer", "value": value, "currency": "EUR"},
        headers=bearer(world.keys["rw"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["customer_value"] == stored


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e20", "49.555"])
async def test_a_value_that_is_no_amount_is_a_422_naming_value(
    client: httpx.AsyncClient, world: World, number: str
) -> None:
    response = await client.patch(
        f"{LEADS}/{world.anna_lead.id}",
        content=f'{{"status": "customer", "value": {number}, "currency": "EUR"}}',
        headers={**bearer(world.keys["rw"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["value"]


async def test_a_crm_confirms_a_pending_lead_without_sending_anything(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    lead = await add_lead(session, world.anna_page, "later@example.com", status="pending")
    await session.commit()
    response = await client.patch(
        f"{LEADS}/{lead.id}", json={"status": "confirmed"}, headers=bearer(world.keys["rw"])
    )
    assert response.json()["status"] == "confirmed"
    assert response.json()["confirmed_at"] is not None
    sent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.lead_id == lead.id)
    assert await session.scalar(sent) == 0


async def test_export_holds_everything_about_one_person(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    other_page = await add_page(session, world.bob, "bob-course", consent_text="Send me tips")
    headers = bearer(world.keys["rw"])
    await session.commit()
    imported = await client.post(
        LEADS, json={"email": "fan@example.com", "page": other_page.slug}, headers=headers
    )
    assert imported.status_code == 201

    response = await client.get(
        f"{LEADS}/export", params={"email": "FAN@example.com"}, headers=headers
    )
    assert response.status_code == 200
    export = response.json()
    assert export["email"] == "fan@example.com"
    assert [lead["page"] for lead in export["leads"]] == ["anna-guide", "bob-course"]
    ledger = export["leads"][1]["consent"]
    assert [event["kind"] for event in ledger] == ["opt_in"]
    assert ledger[0]["consent_text"] == "Send me tips"
    bad = await client.get(f"{LEADS}/export", params={"email": "nope"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "email"
    # An address the form could never have stored is a fine question with an empty answer.
    reserved = await client.get(
        f"{LEADS}/export", params={"email": "someone@example.test"}, headers=headers
    )
    assert reserved.status_code == 200
    assert reserved.json()["leads"] == []
