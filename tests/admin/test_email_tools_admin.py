"""`/admin/connections` for an email tool: connecting Mailchimp in the browser (API key, audience,
the gift-list choice off by default), "Send confirmed leads" sending what the tool lacks once,
the page showing the sync and its event log, a refused key shown as "needs reconnect" until a
new key is pasted (which sends again what failed), and forms refused with the field named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.outbox_handlers import outbox_worker
from app.users.models import User
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.databases import DatabaseUnderTest, make_settings
from tests.email_tools.contract_servers import Mailchimp, serving
from tests.email_tools.email_helpers import KEYS
from tests.factories import add_handle, add_lead, add_page


@pytest.fixture
async def mailchimp() -> AsyncIterator[Mailchimp]:
    async with serving(Mailchimp(KEYS["mailchimp"])) as server:
        yield server


@pytest.fixture
def settings(database: DatabaseUnderTest, tmp_path: Path, mailchimp: Mailchimp) -> Settings:
    urls = {"mailchimp": mailchimp.url}
    return make_settings(tmp_path, database.settings.effective_database_url, provider_api_urls=urls)


@pytest.fixture
async def leads(session: AsyncSession, owner: User) -> None:
    """Anna's confirmed newsletter lead, her gift-only lead, and Bob's lead."""
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    annas = await add_page(session, anna, "anna-guide")
    bobs = await add_page(session, bob, "bob-guide")
    await add_lead(session, annas, "fan@example.com", name="Fan", newsletter_consent=True)
    await add_lead(session, annas, "gift@example.com", newsletter_consent=False)
    await add_lead(session, bobs, "other@example.com", newsletter_consent=True)
    await session.commit()


async def _connect(client: httpx.AsyncClient, **form: str | list[str]) -> httpx.Response:
    page = await client.get("/admin/connections/email-tools/new")
    assert page.status_code == 200
    return await client.post(
        "/admin/connections/email-tools", data={"csrf_token": csrf_from(page.text), **form}
    )


async def _post(client: httpx.AsyncClient, url: str, **form: str) -> httpx.Response:
    page = await client.get("/admin/connections")
    return await client.post(url, data={"csrf_token": csrf_from(page.text), **form})


async def _flash(client: httpx.AsyncClient, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return (await client.get(response.headers["location"])).text


@pytest.mark.usefixtures("leads")
async def test_mailchimp_is_connected_and_sent_the_confirmed_leads_once(
    client: httpx.AsyncClient, app: Any, mailchimp: Mailchimp
) -> None:
    await sign_in(client)
    form = await client.get("/admin/connections/email-tools/new")
    assert 'name="gift_list" value="1">' in form.text  # unticked by default
    assert "Also add gift-only sign-ups" in form.text

    created = await _connect(
        client,
        provider="mailchimp",
        secret=KEYS["mailchimp"],
        list_id="a1b2c3d4e5",
        handles=["anna"],
    )
    page = await _flash(client, created)
    assert_only_static_scripts(page)
    assert "Send confirmed leads" in page
    assert KEYS["mailchimp"] not in page
    assert "/hooks/" not in page  # an email tool has no webhook URL
    url = created.headers["location"]

    queued = await _flash(client, await _post(client, url + "/send-existing"))
    assert "1 leads queued for Mailchimp" in queued
    await outbox_worker(app.state.database, app.state.settings).drain()

    member = mailchimp.member("fan@example.com")
    assert member is not None
    assert member["merge_fields"] == {"FNAME": "Fan"}
    assert mailchimp.member("gift@example.com") is None  # gift only, not a gift list
    assert mailchimp.member("other@example.com") is None  # Bob's handle
    page = (await client.get(url)).text
    assert '<dd id="sync-synced">1</dd>' in page
    assert '<span class="badge ok">sent</span>' in page
    again = await _flash(client, await _post(client, url + "/send-existing"))
    assert "Nothing to send" in again

    # Ticking "gift list" afterwards sends the gift-only sign-up too.
    saved = await _post(client, url + "/email-tool", list_id="a1b2c3d4e5", gift_list="1")
    assert "The settings are saved." in await _flash(client, saved)
    assert "1 leads queued" in await _flash(client, await _post(client, url + "/send-existing"))
    await outbox_worker(app.state.database, app.state.settings).drain()
    assert mailchimp.member("gift@example.com") is not None


@pytest.mark.usefixtures("leads")
async def test_a_refused_key_shows_on_the_page_until_a_new_one_is_pasted(
    client: httpx.AsyncClient, app: Any, mailchimp: Mailchimp
) -> None:
    await sign_in(client)
    created = await _connect(
        client, provider="mailchimp", secret="f" * 32 + "-us21", list_id="a1b2c3d4e5"
    )
    url = created.headers["location"]
    await _post(client, url + "/send-existing")
    await outbox_worker(app.state.database, app.state.settings).drain()

    page = (await client.get(url)).text
    assert "Mailchimp refused the API key (401): paste a new one." in page
    assert '<span class="badge warn">needs a secret</span>' in page
    assert '<dd id="sync-failed">2</dd>' in page

    saved = await _post(client, url + "/secret", secret=KEYS["mailchimp"])
    assert "2 leads queued for Mailchimp" in await _flash(client, saved)
    await outbox_worker(app.state.database, app.state.settings).drain()
    assert mailchimp.member("fan@example.com") is not None
    assert mailchimp.member("other@example.com") is not None  # every handle
    page = (await client.get(url)).text
    assert '<span class="badge ok">active</span>' in page
    assert '<dd id="sync-synced">2</dd>' in page


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"provider": "mailchimp", "secret": "0" * 32, "list_id": "a1"}, "secret", "-us21"),
        ({"provider": "mailchimp", "secret": "k-us21", "list_id": ""}, "list_id", "audience id"),
        ({"provider": "brevo", "secret": "xkeysib-1", "list_id": "main"}, "list_id", "a number"),
        ({"provider": "kit", "secret": ""}, "secret", "API key."),
        ({"provider": "stripe", "secret": "whsec_1"}, "form", "listed email tools"),
    ],
)
async def test_a_form_that_cannot_work_is_a_422_naming_the_field(
    client: httpx.AsyncClient, owner: User, form: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client)
    refused = await _connect(client, **form)
    assert refused.status_code == 422
    assert message in refused.text
    if field != "form":
        assert f'id="f-{field}-error"' in refused.text


@pytest.mark.usefixtures("leads")
async def test_a_new_audience_takes_everyone_on_send_confirmed_leads(
    client: httpx.AsyncClient, app: Any, mailchimp: Mailchimp
) -> None:
    await sign_in(client)
    created = await _connect(
        client, provider="mailchimp", secret=KEYS["mailchimp"], list_id="oldlist1"
    )
    url = created.headers["location"]
    await _post(client, url + "/send-existing")
    await outbox_worker(app.state.database, app.state.settings).drain()
    assert mailchimp.members == {}  # the server knows only its own audience: 404s, retried

    saved = await _post(client, url + "/email-tool", list_id=mailchimp.list_id)
    assert "The settings are saved." in await _flash(client, saved)
    assert "2 leads queued" in await _flash(client, await _post(client, url + "/send-existing"))
    await outbox_worker(app.state.database, app.state.settings).drain()
    assert mailchimp.member("fan@example.com") is not None
    page = (await client.get(url)).text
    assert "check the audience id" in page  # what the 404s said, in the event log
