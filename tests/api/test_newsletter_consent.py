"""Newsletter consent on a lead: whether the person ticked the page's box at their latest opt-in,
and the consent version shown, as a CRM sees them in the API, both exports and webhooks."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database, utcnow
from app.delivery.models import OutboxMessage
from app.leads import service as leads
from app.leads.models import Lead
from app.leads.schemas import LeadCreate
from app.links import service as links
from app.pages import service as pages
from app.pages.models import Page
from app.pages.schemas import PageCreate
from app.signing import Signer
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.apps import build_app
from tests.databases import DatabaseUnderTest, make_settings
from tests.factories import add_endpoint, bearer, issue_key, opt_in_form
from tests.webhooks.webhook_helpers import lead_links

TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')
TICKED = "ticked@example.com"
UNTICKED = "unticked@example.com"


@pytest.fixture
async def app(
    database: DatabaseUnderTest, connection: AsyncConnection, tmp_path: Path
) -> AsyncIterator[Any]:
    settings = make_settings(
        tmp_path,
        database.settings.effective_database_url,
        optin_rate_per_ip="1000/minute",
        optin_rate_per_email="1000/hour",
    )
    application = build_app(settings, database=Database(connection, owns_engine=False))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def page(session: AsyncSession) -> Page:
    handle = await links.create_handle(session, "anna")
    created = await pages.create_page(
        session,
        handle,
        PageCreate(
            slug="guide",
            title="The guide",
            gift_kind="text",
            gift_value="Thanks!",
            consent_text="Send me the weekly tips too.",
        ),
    )
    await pages.publish_page(session, created)
    await session.commit()
    return created


@pytest.fixture
async def read_key(session: AsyncSession) -> str:
    secret = await issue_key(session, ["leads:read"])
    await session.commit()
    return secret


async def submit(client: httpx.AsyncClient, app: Any, email: str, *, ticked: bool) -> None:
    """Post the real form as a visitor would, the box ticked or not."""
    form = await client.get("/p/guide", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    found = TOKEN_FIELD.search(form.text)
    assert found is not None
    signer: Signer = app.state.one_link.signer
    values, _issued = signer.unsign_fields(found.group(1))
    data = {"a": signer.sign_fields(values, now=time.time() - 5), "email": email, "website": ""}
    if ticked:
        data["consent"] = "yes"
    response = await client.post("/p/guide", data=data)
    assert response.status_code == 303


async def lead_id(session: AsyncSession, email: str) -> int:
    found = await session.scalar(select(Lead.id).where(Lead.email == email))
    assert found is not None
    return found


async def webhook_events(session: AsyncSession, endpoint: WebhookEndpoint) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(OutboxMessage.payload)
        .join(WebhookDelivery, WebhookDelivery.outbox_message_id == OutboxMessage.id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(OutboxMessage.id)
    )
    return [json.loads(payload["body"]) for (payload,) in rows]


@pytest.mark.usefixtures("page")
async def test_the_box_shows_in_the_api_and_both_exports(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, read_key: str
) -> None:
    """No webhook endpoint: on SQLite the opt-ins take the batched writer's fast path."""
    await submit(client, app, TICKED, ticked=True)
    await submit(client, app, UNTICKED, ticked=False)
    headers = bearer(read_key)

    for email, ticked in ((TICKED, True), (UNTICKED, False)):
        url = f"/api/v1/leads/{await lead_id(session, email)}"
        response = await client.get(url, headers=headers)
        assert response.status_code == 200
        assert response.json()["newsletter_consent"] is ticked
        assert response.json()["consent_version"] == 1

    exported = await client.get("/api/v1/leads/export.csv", headers=headers)
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert rows[TICKED]["newsletter_consent"] == "true"
    assert rows[UNTICKED]["newsletter_consent"] == "false"
    assert rows[TICKED]["consent_version"] == rows[UNTICKED]["consent_version"] == "1"

    lines = (await client.get("/api/v1/leads/export.ndjson", headers=headers)).text.splitlines()
    by_email = {item["email"]: item for item in map(json.loads, lines)}
    assert by_email[TICKED]["newsletter_consent"] is True
    assert by_email[UNTICKED]["newsletter_consent"] is False
    assert by_email[UNTICKED]["consent_version"] == 1


@pytest.mark.usefixtures("page")
async def test_the_box_shows_in_the_lead_created_webhook(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    endpoint, _ = await add_endpoint(session, "https://93.184.216.34/hooks")
    await session.commit()

    await submit(client, app, TICKED, ticked=True)
    await submit(client, app, UNTICKED, ticked=False)

    created = {
        event["data"]["email"]: event["data"]
        for event in await webhook_events(session, endpoint)
        if event["type"] == "lead.created"
    }
    assert created[TICKED]["newsletter_consent"] is True
    assert created[UNTICKED]["newsletter_consent"] is False
    assert created[TICKED]["consent_version"] == created[UNTICKED]["consent_version"] == 1


@pytest.mark.usefixtures("page")
async def test_a_repeat_opt_in_flips_it_and_says_so(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, read_key: str
) -> None:
    endpoint, _ = await add_endpoint(session, "https://93.184.216.34/hooks")
    await session.commit()
    await submit(client, app, UNTICKED, ticked=False)
    url = f"/api/v1/leads/{await lead_id(session, UNTICKED)}"

    await submit(client, app, UNTICKED, ticked=True)
    assert (await client.get(url, headers=bearer(read_key))).json()["newsletter_consent"] is True

    await submit(client, app, UNTICKED, ticked=False)
    assert (await client.get(url, headers=bearer(read_key))).json()["newsletter_consent"] is False

    await submit(client, app, UNTICKED, ticked=False)  # the same again changes nothing
    events = await webhook_events(session, endpoint)
    assert [(e["type"], e["data"]["newsletter_consent"]) for e in events] == [
        ("lead.created", False),
        ("lead.updated", True),
        ("lead.updated", False),
    ]


async def test_a_new_consent_version_is_taken_by_the_next_opt_in_only(
    session: AsyncSession, page: Page
) -> None:
    page.double_opt_in = True
    pending = await leads.submit_opt_in(session, page, opt_in_form(TICKED), None, lead_links())
    assert pending is not None
    page.consent_version = 2
    await session.flush()
    lead = await session.get_one(Lead, pending)
    assert (lead.newsletter_consent, lead.consent_version) == (True, 1)

    await leads.submit_opt_in(session, page, opt_in_form(TICKED), None, lead_links())
    await session.refresh(lead)
    assert (lead.newsletter_consent, lead.consent_version) == (True, 2)


async def test_confirming_and_resubscribing_leave_the_box_as_it_was(
    session: AsyncSession, page: Page
) -> None:
    page.double_opt_in = True
    unticked = replace(opt_in_form(UNTICKED), consent=False)
    new_id = await leads.submit_opt_in(session, page, unticked, None, lead_links())
    assert new_id is not None

    await leads.confirm_lead(session, new_id, lead_links(), link_issued_at=utcnow())
    await leads.unsubscribe_lead(session, new_id)
    newer = utcnow() + timedelta(seconds=1)  # the link of a new opt-in resubscribes
    await leads.confirm_lead(session, new_id, lead_links(), link_issued_at=newer)

    lead = await session.get_one(Lead, new_id)
    assert lead.status == "confirmed"
    assert lead.newsletter_consent is False


async def test_an_import_has_no_newsletter_consent_and_the_pages_version(
    session: AsyncSession, page: Page
) -> None:
    page.consent_version = 3
    await session.flush()
    row, created = await leads.import_lead(
        session,
        LeadCreate(email="crm@example.com", page="guide", status="confirmed"),
        visible=None,
        links=lead_links(),
    )
    assert created
    assert (row.lead.newsletter_consent, row.lead.consent_version) == (False, 3)
