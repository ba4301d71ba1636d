"""Confirmed leads reach the owner's email tool through the outbox and the real worker, each
provider's local contract server standing in for it: once, with name and tags or attributes;
only with the consent that covers the list; unsubscribes and erasures follow, and an erased
person's address is left nowhere in leadlink; a lead of a handle outside the connection is
never sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.delivery.worker import OutboxWorker
from app.leads import privacy
from app.leads import service as leads
from app.leads.email_tools import send_existing
from app.leads.schemas import LeadUpdate
from tests.connection_helpers import events
from tests.email_tools.contract_servers import Brevo, ContractServer, Kit, Mailchimp
from tests.email_tools.email_helpers import (
    PROVIDERS,
    connect,
    everything_stored,
    guide_page_connected,
    sign_up,
    sync_rows,
    tool_messages,
)
from tests.factories import add_handle, add_page, bearer, issue_key
from tests.webhooks.webhook_helpers import lead_links


def _received(server: ContractServer, email: str) -> dict[str, Any] | None:
    """The person as the tool holds them, in one shape: status, first name, tags or
    attributes."""
    if isinstance(server, Mailchimp):
        member = server.member(email)
        if member is None:
            return None
        return {"status": member["status"], "name": member["merge_fields"].get("FNAME"),
                "marks": sorted(member["tags"])}  # fmt: skip
    if isinstance(server, Kit):
        found = server.by_email(email)
        if found is None:
            return None
        return {"status": found["state"], "name": found["first_name"],
                "marks": sorted(server.tagged.get(found["id"], set()))}  # fmt: skip
    assert isinstance(server, Brevo)
    contact = server.contacts.get(email)
    if contact is None:
        return None
    listed = server.list_id in contact["listIds"]
    name = contact["attributes"].get("FIRSTNAME")
    status = "subscribed" if listed else "unsubscribed"
    return {"status": status, "name": name, "marks": contact["attributes"]}


def _writes(server: ContractServer) -> int:
    return len([seen for seen in server.requests if seen.method != "GET"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_confirmed_newsletter_lead_arrives_once_with_its_name_and_origin(
    provider: str,
    session: AsyncSession,
    settings: Settings,
    tools: dict[str, ContractServer],
    worker: OutboxWorker,
) -> None:
    server = tools[provider]
    page, connection = await guide_page_connected(session, settings, provider, tags="vip")

    pending = await sign_up(session, page, "late@example.com", confirm=False)
    lead_id = await sign_up(session, page, "Fan@Example.com", name="Ada", campaign="spring")
    await worker.drain()

    assert _received(server, "late@example.com") is None  # pending: not sent
    person = _received(server, "fan@example.com")
    assert person is not None
    assert person["name"] == "Ada"
    assert person["status"] in {"subscribed", "active"}
    if provider == "brevo":
        assert person["marks"] == {
            "FIRSTNAME": "Ada",
            "LEADLINK_SOURCE": "instagram",
            "LEADLINK_CAMPAIGN": "spring",
            "LEADLINK_PAGE": "guide",
            "LEADLINK_NEWSLETTER": True,
            "LEADLINK_CUSTOMER": False,
        }
        assert server.calls("POST", "/contacts")[0].json["listIds"] == [7]
    else:
        assert person["marks"] == sorted(
            [
                "leadlink",
                "newsletter",
                "source: instagram",
                "campaign: spring",
                "page: guide",
                "vip",
            ]
        )
    writes = _writes(server)

    # The same lead again (a second click, an unchanged update, another drain) sends nothing.
    await leads.confirm_lead(session, lead_id, lead_links(), link_issued_at=utcnow())
    await session.commit()
    await worker.drain()
    assert _writes(server) == writes
    (row,) = await sync_rows(session, lead_id)
    assert (row.state, row.action) == ("synced", "subscribe")
    assert row.remote_id
    assert await sync_rows(session, pending) == []
    (event,) = await events(session, connection)
    assert (event.event_type, event.outcome, event.lead_id) == ("subscribe", "sent", lead_id)
    assert "fan@example.com" not in (event.detail or "")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_gift_only_sign_up_is_sent_only_to_a_gift_list(
    provider: str,
    session: AsyncSession,
    settings: Settings,
    tools: dict[str, ContractServer],
    worker: OutboxWorker,
) -> None:
    page, newsletter_only = await guide_page_connected(session, settings, provider)
    await sign_up(session, page, "gift@example.com", newsletter=False)
    await worker.drain()
    assert _received(tools[provider], "gift@example.com") is None
    assert await events(session, newsletter_only) == []

    await session.refresh(newsletter_only)
    newsletter_only.settings = {**newsletter_only.settings, "gift_list": True}
    await session.commit()
    assert await send_existing(session, newsletter_only) == 1
    await session.commit()
    await worker.drain()
    person = _received(tools[provider], "gift@example.com")
    assert person is not None
    if provider == "brevo":
        assert person["marks"]["LEADLINK_NEWSLETTER"] is False
    else:
        assert "gift only" in person["marks"]
        assert "newsletter" not in person["marks"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unsubscribe_reaches_the_tool(
    provider: str,
    session: AsyncSession,
    settings: Settings,
    tools: dict[str, ContractServer],
    worker: OutboxWorker,
) -> None:
    page, _ = await guide_page_connected(session, settings, provider)
    lead_id = await sign_up(session, page, "fan@example.com")
    await worker.drain()

    await leads.unsubscribe_lead(session, lead_id)
    await session.commit()
    await worker.drain()

    person = _received(tools[provider], "fan@example.com")
    assert person is not None
    assert person["status"] in {"unsubscribed", "cancelled"}
    (row,) = await sync_rows(session, lead_id)
    assert (row.action, row.state) == ("unsubscribe", "synced")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_erasure_removes_the_person_at_the_tool_and_leaves_no_address_in_leadlink(  # noqa: PLR0917
    provider: str,
    session: AsyncSession,
    settings: Settings,
    tools: dict[str, ContractServer],
    worker: OutboxWorker,
    client: Any,
) -> None:
    server = tools[provider]
    page, connection = await guide_page_connected(session, settings, provider)
    connection_id = connection.id
    lead_id = await sign_up(session, page, "gone@example.com", name="Gone")
    await worker.drain()
    assert _received(server, "gone@example.com") is not None
    key = await issue_key(session, ["admin"])
    await session.commit()

    erased = await client.delete(f"/api/v1/leads/{lead_id}", headers=bearer(key))
    assert erased.status_code == 204
    assert "gone@example.com" in await everything_stored(session)  # until the tool is told
    await worker.drain()

    if provider == "kit":  # Kit's API cannot delete: unsubscribed, and the owner is told
        assert _received(server, "gone@example.com")["status"] == "cancelled"  # type: ignore[index]
        note = (await events(session, connection))[-1].detail or ""
        assert "delete subscriber" in note
    else:
        assert _received(server, "gone@example.com") is None
    assert server.calls("DELETE" if provider == "brevo" else "POST", "")
    assert await sync_rows(session, lead_id) == []
    stored = await everything_stored(session)
    assert "gone@example.com" not in stored
    assert "Gone" not in stored
    (message,) = [m for m in await tool_messages(session) if m.payload.get("action") == "erase"]
    assert message.status == "sent"
    assert message.payload == {"connection_id": connection_id, "action": "erase", "scrubbed": True}


async def test_every_erasure_path_reaches_the_tool(
    session: AsyncSession,
    settings: Settings,
    mailchimp: Mailchimp,
    worker: OutboxWorker,
) -> None:
    """`erase_person` (POST /erasures, the CLI, the admin) goes through the same erasure; the
    person's export lists the tools beforehand, nothing afterwards."""
    anna = await add_handle(session, "anna")
    page = await add_page(session, anna, "guide", double_opt_in=True)
    other = await add_page(session, anna, "other", double_opt_in=True)
    await connect(session, settings, "mailchimp", [anna])
    await sign_up(session, page, "twice@example.com")
    await sign_up(session, other, "twice@example.com")
    await worker.drain()
    # The person's export names the tool as a recipient of each lead.
    export = await privacy.export_person(session, "twice@example.com", visible=None)
    assert [(tool.provider, tool.state) for tool in export.email_tools] == [
        ("mailchimp", "synced"),
        ("mailchimp", "synced"),
    ]

    assert await privacy.erase_person(session, "twice@example.com", visible=None) == 2
    await session.commit()
    await worker.drain()

    assert mailchimp.member("twice@example.com") is None
    assert "twice@example.com" not in await everything_stored(session)
    export = await privacy.export_person(session, "twice@example.com", visible=None)
    assert export.email_tools == []


async def test_a_lead_of_a_handle_outside_the_connection_is_never_sent(
    session: AsyncSession,
    settings: Settings,
    kit: Kit,
    brevo: Brevo,
    worker: OutboxWorker,
) -> None:
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    annas = await add_page(session, anna, "annas", double_opt_in=True)
    bobs = await add_page(session, bob, "bobs", double_opt_in=True)
    annas_only = await connect(session, settings, "brevo", [anna])
    everyone_id = (await connect(session, settings, "kit")).id
    await sign_up(session, annas, "fan@example.com")
    bobs_lead = await sign_up(session, bobs, "bobsfan@example.com")
    await worker.drain()

    assert "bobsfan@example.com" not in brevo.contacts
    assert "fan@example.com" in brevo.contacts
    # A connection for every handle takes both.
    assert kit.by_email("bobsfan@example.com") is not None
    await session.refresh(annas_only)
    assert await send_existing(session, annas_only) == 0
    assert [row.connection_id for row in await sync_rows(session, bobs_lead)] == [everyone_id]


async def test_a_customer_is_tagged_and_a_resubscribed_person_is_subscribed_again(
    session: AsyncSession,
    settings: Settings,
    mailchimp: Mailchimp,
    worker: OutboxWorker,
) -> None:
    page, _ = await guide_page_connected(session, settings, "mailchimp")
    lead_id = await sign_up(session, page, "fan@example.com")
    await worker.drain()

    await leads.update_lead(session, lead_id, LeadUpdate(status="customer"), visible=None)
    await session.commit()
    await worker.drain()
    member = mailchimp.member("fan@example.com")
    assert member is not None
    assert "customer" in member["tags"]
    (put,) = mailchimp.calls("PUT")[1:]
    assert "status" not in put.json  # an update never overrides the tool's own status

    await leads.unsubscribe_lead(session, lead_id)
    await session.commit()
    await worker.drain()
    assert member["status"] == "unsubscribed"

    # The person opts in again and confirms with the new link: subscribed again at the tool.
    await sign_up(session, page, "fan@example.com")
    await worker.drain()
    assert member["status"] == "subscribed"
    assert mailchimp.calls("PUT")[-1].json["status"] == "subscribed"


async def test_only_the_latest_change_is_sent_and_a_tag_deleted_in_kit_is_made_again(
    session: AsyncSession,
    settings: Settings,
    kit: Kit,
    worker: OutboxWorker,
) -> None:
    page, _ = await guide_page_connected(session, settings, "kit")
    first = await sign_up(session, page, "first@example.com")
    await worker.drain()
    assert len(kit.calls("GET", "/tags")) == 2  # two cursor pages of existing tags, once

    # Confirmed, then a customer before the worker ran: only the latest state is sent.
    lead_id = await sign_up(session, page, "fan@example.com")
    await leads.update_lead(session, lead_id, LeadUpdate(status="customer"), visible=None)
    await session.commit()
    kit.tags = [tag for tag in kit.tags if tag["name"] != "leadlink"]  # deleted in Kit
    await worker.drain()

    creates = [seen for seen in kit.calls("POST", "/subscribers") if seen.path.endswith("s")]
    assert [seen.json["email_address"] for seen in creates] == [
        "first@example.com",
        "fan@example.com",
    ]
    fan = kit.by_email("fan@example.com")
    assert fan is not None
    assert {"leadlink", "customer", "newsletter"} <= kit.tagged[fan["id"]]
    assert [row.state for row in await sync_rows(session, first)] == ["synced"]
    assert [row.state for row in await sync_rows(session, lead_id)] == ["synced"]
