"""A lead's page at /admin/leads/{lead_id}: its consent record, emails and webhook events, mark as
customer (the API's rules and webhook event), erase; and the privacy form (export and erase by
address, within the owner's handles)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.users import service as users
from app.users.models import Role, User
from app.webhooks.models import WebhookDelivery
from tests.admin.admin_helpers import csrf_from, sign_in
from tests.factories import add_endpoint, build_world


async def test_the_detail_shows_the_consent_record_emails_and_webhook_events(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    world = await build_world(session)
    lead = world.anna_lead
    lead.fields = {"city": "Lisbon"}
    lead.campaign = "spring"
    session.add(
        ConsentEvent(
            lead_id=lead.id, kind="opt_in", consent_text="Send me the guide and the newsletter.",
            consent_version=3, checkbox=True, source="tiktok",
        )
    )  # fmt: skip
    message = OutboxMessage(
        kind="email", payload={"to": lead.email, "subject": "Confirm your address"},
        lead_id=lead.id, status="sent",
    )  # fmt: skip
    endpoint, _ = await add_endpoint(session, "https://crm.example/hooks")
    session.add_all(
        [
            message,
            WebhookDelivery(
                endpoint_id=endpoint.id, event_id="evt_1", event_type="lead.created",
                lead_id=lead.id, status="delivered", attempts=2,
            ),
        ]
    )  # fmt: skip
    await session.commit()
    await sign_in(client)

    page = await client.get(f"/admin/leads/{lead.id}")
    assert page.status_code == 200
    text = page.text
    assert "<h1" in text
    assert "fan@example.com" in text
    assert "Send me the guide and the newsletter." in text
    assert "ticked" in text
    assert ">3<" in text
    assert "tiktok" in text
    assert f'href="/admin/emails/{message.id}">Confirm your address</a>' in text
    assert "lead.created" in text
    assert "https://crm.example/hooks" in text
    assert ">2<" in text
    assert "Lisbon" in text
    assert "spring" in text


async def test_mark_as_customer_shows_status_and_value_and_queues_the_event(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    world = await build_world(session)
    await add_endpoint(session, "https://crm.example/hooks")
    await session.commit()
    lead_id = world.anna_lead.id
    await sign_in(client)
    url = f"/admin/leads/{lead_id}"
    token = csrf_from((await client.get(url)).text)

    bad = await client.post(
        f"{url}/customer", data={"csrf_token": token, "value": "49.999", "currency": "EUR"}
    )
    assert bad.status_code == 422
    assert "at most two decimals" in bad.text
    assert 'aria-invalid="true"' in bad.text
    no_currency = await client.post(
        f"{url}/customer", data={"csrf_token": token, "value": "49", "currency": ""}
    )
    assert no_currency.status_code == 422
    session.expire_all()
    assert (await session.get_one(Lead, lead_id)).status == "confirmed"

    done = await client.post(
        f"{url}/customer", data={"csrf_token": token, "value": "49.50", "currency": "eur"}
    )
    assert done.status_code == 303
    page = await client.get(done.headers["location"])
    assert "Marked as customer." in page.text
    assert "customer" in page.text
    assert "49.50 EUR" in page.text
    events = (
        await session.scalars(
            select(WebhookDelivery.event_type).where(WebhookDelivery.lead_id == lead_id)
        )
    ).all()
    assert "lead.updated" in events


async def test_erase_on_the_detail_page_erases_the_lead(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    world = await build_world(session)
    lead_id = world.anna_lead.id
    await sign_in(client)
    url = f"/admin/leads/{lead_id}"
    page = (await client.get(url)).text
    assert "data-confirm=" in page
    answer = await client.post(f"{url}/erase", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 303
    assert "The lead was erased." in (await client.get("/admin/leads")).text
    assert (await client.get(url)).status_code == 404
    session.expire_all()
    assert (await session.get_one(Lead, lead_id)).erased_at is not None


async def test_privacy_export_downloads_the_leads_of_the_address(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    world = await build_world(session)
    await sign_in(client)
    form = await client.get("/admin/leads/privacy")
    assert form.status_code == 200
    token = csrf_from(form.text)
    answer = await client.post(
        "/admin/leads/privacy/export", data={"csrf_token": token, "email": " Fan@Example.com "}
    )
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    export = json.loads(answer.text)
    assert export["email"] == "fan@example.com"
    assert [lead["id"] for lead in export["leads"]] == [str(world.anna_lead.id)]

    invalid = await client.post(
        "/admin/leads/privacy/export", data={"csrf_token": token, "email": "not an address"}
    )
    assert invalid.status_code == 422
    assert 'aria-invalid="true"' in invalid.text
    unknown = await client.post(
        "/admin/leads/privacy/export", data={"csrf_token": token, "email": "nobody@example.com"}
    )
    assert unknown.status_code == 200
    assert "No lead with that address on your handles" in unknown.text


async def test_erase_by_address_needs_the_address_twice_and_stays_in_sight(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(session)
    # The same address on both handles; anna's owner may erase only anna's.
    world.bob_lead.email = "fan@example.com"
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER,
        handle_ids=[world.anna.id],
    )  # fmt: skip
    await session.commit()
    anna_id, bob_id = world.anna_lead.id, world.bob_lead.id
    await sign_in(client, "anna@owners.example", "anna's long password")
    token = csrf_from((await client.get("/admin/leads/privacy")).text)

    mismatch = await client.post(
        "/admin/leads/privacy/erase",
        data={"csrf_token": token, "email": "fan@example.com", "confirm_email": "fan@example.co"},
    )
    assert mismatch.status_code == 422
    assert "Type the same address again" in mismatch.text
    session.expire_all()
    assert (await session.get_one(Lead, anna_id)).erased_at is None

    done = await client.post(
        "/admin/leads/privacy/erase",
        data={"csrf_token": token, "email": "fan@example.com", "confirm_email": "FAN@example.com"},
    )
    assert done.status_code == 303
    assert "Erased 1 lead." in (await client.get(done.headers["location"])).text
    session.expire_all()
    assert (await session.get_one(Lead, anna_id)).erased_at is not None
    bob_lead = await session.get_one(Lead, bob_id)
    assert bob_lead.erased_at is None
    assert bob_lead.email == "fan@example.com"
