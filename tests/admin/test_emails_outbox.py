"""`/admin/emails`: the outbox's emails, readable with their links, each owner seeing only the
emails of the leads on their handles."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import emails as emails_section
from app.delivery import service as outbox
from app.delivery.models import OutboxMessage
from app.leads import privacy
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import ClientFactory, assert_only_static_scripts, sign_in
from tests.factories import World, build_world

OWNER_OF_ANNA = "anna@owners.example"
PASSWORD = "anna's long password"

Enqueue = Callable[..., Awaitable[int]]


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)


@pytest.fixture
def enqueue(session: AsyncSession) -> Enqueue:
    async def add(
        to: str, note: str, *, lead_id: int | None = None, link: str = "https://x.example/c/tok"
    ) -> int:
        message = await outbox.enqueue_email(
            session, to=to, template="ping", context={"note": note, "link": link}, lead_id=lead_id
        )
        await session.commit()
        return message.id

    return add


async def annas_owner(session: AsyncSession, world: World) -> None:
    await users.create_user(
        session, OWNER_OF_ANNA, PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()


def subjects(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/emails/\d+">leadlink test email: ([^<]*)</a>', html)


async def test_the_admin_sees_every_email_newest_first(
    client: httpx.AsyncClient, owner: User, world: World, enqueue: Enqueue
) -> None:
    await enqueue("fan@example.com", "first", lead_id=world.anna_lead.id)
    await enqueue("other@example.com", "second", lead_id=world.bob_lead.id)
    await enqueue("someone@example.com", "a ping without a lead")
    await sign_in(client)
    response = await client.get("/admin/emails")
    assert response.status_code == 200
    assert "<h1>Emails</h1>" in response.text
    assert subjects(response.text) == ["a ping without a lead", "second", "first"]
    assert "fan@example.com" in response.text
    assert 'data-label="Status"><span class="badge warn">pending</span>' in response.text
    assert_only_static_scripts(response.text)


async def test_an_owner_sees_only_the_emails_of_their_handles_leads(
    client: httpx.AsyncClient, session: AsyncSession, world: World, enqueue: Enqueue
) -> None:
    annas = await enqueue("fan@example.com", "for anna's fan", lead_id=world.anna_lead.id)
    bobs = await enqueue("other@example.com", "for bob's fan", lead_id=world.bob_lead.id)
    ping = await enqueue("someone@example.com", "a ping without a lead")
    await annas_owner(session, world)
    await sign_in(client, OWNER_OF_ANNA, PASSWORD)
    listed = await client.get("/admin/emails")
    assert subjects(listed.text) == ["for anna&#39;s fan"]
    assert "other@example.com" not in listed.text
    assert (await client.get(f"/admin/emails/{annas}")).status_code == 200
    for hidden in (bobs, ping):
        response = await client.get(f"/admin/emails/{hidden}")
        assert response.status_code == 404
        assert (await client.get(f"/admin/emails/{hidden}/preview")).status_code == 404
        assert "other@example.com" not in response.text
        assert "someone@example.com" not in response.text


async def test_an_email_reads_with_its_links_and_nothing_of_it_runs(
    client: httpx.AsyncClient, owner: User, world: World, enqueue: Enqueue
) -> None:
    note = '<script>alert(1)</script> javascript:alert(2) "><b>bold</b>'
    message_id = await enqueue(
        "fan@example.com",
        note,
        lead_id=world.anna_lead.id,
        link='https://x.example/c/tok?a=1&b="2"',
    )
    await sign_in(client)
    response = await client.get(f"/admin/emails/{message_id}")
    assert response.status_code == 200
    html = response.text
    assert "<dt>To</dt><dd>fan@example.com</dd>" in html
    assert "<dt>Attempts</dt><dd>0</dd>" in html
    # The link is clickable, its quote escaped and cut where running text ends it.
    assert (
        '<a href="https://x.example/c/tok?a=1&amp;b=" rel="noopener noreferrer nofollow">'
        "https://x.example/c/tok?a=1&amp;b=</a>&#34;2&#34;" in html
    )
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert "<b>bold</b>" not in html
    # The HTML part only inside a frame that runs nothing, served on its own with a policy
    # that lets its inline styles apply (the admin's refuses them) and loads nothing else.
    [frame] = re.findall(r"<iframe\b[^>]*>", html)
    assert 'sandbox=""' in frame
    assert f'src="/admin/emails/{message_id}/preview"' in frame
    assert_only_static_scripts(html)
    part = await client.get(f"/admin/emails/{message_id}/preview")
    assert part.status_code == 200
    assert part.text.startswith(
        '<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
    )
    policy = part.headers["content-security-policy"]
    assert "script-src" not in policy
    assert "style-src 'unsafe-inline'" in policy
    assert "frame-ancestors 'self'" in policy
    assert part.headers["cache-control"] == "no-store"


def test_linkify_leaves_other_schemes_and_markup_as_text() -> None:
    text = "see https://a.example/x. and ftp://b.example or <a href='https://c.example'>"
    html = str(emails_section.linkify(text))
    assert html.startswith('see <a href="https://a.example/x" rel="noopener noreferrer nofollow">')
    assert "https://a.example/x</a>. and ftp://b.example or &lt;a href=&#39;" in html
    assert html.count("<a ") == 2
    assert html.endswith(
        '<a href="https://c.example" rel="noopener noreferrer nofollow">https://c.example</a>'
        "&#39;&gt;"
    )


async def test_status_filter_and_keyset_pages(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    owner: User,
    world: World,
    enqueue: Enqueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [await enqueue("fan@example.com", f"number {n}") for n in range(5)]
    sent = await session.get(OutboxMessage, ids[1])
    assert sent is not None
    sent.status = "sent"
    await session.commit()
    monkeypatch.setattr(emails_section, "PAGE_SIZE", 2)
    await sign_in(client)
    first = await client.get("/admin/emails")
    assert subjects(first.text) == ["number 4", "number 3"]
    older = re.search(r'<a href="([^"]+)">Older emails</a>', first.text)
    assert older
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert subjects(second.text) == ["number 2", "number 1"]
    only_sent = await client.get("/admin/emails", params={"status": "sent"})
    assert subjects(only_sent.text) == ["number 1"]
    assert "Older emails" not in only_sent.text
    unknown = await client.get("/admin/emails", params={"status": "bounced"})
    assert "There is no status" in unknown.text
    forged = await client.get("/admin/emails", params={"cursor": "nonsense"})
    assert forged.status_code == 200
    assert "no longer valid" in forged.text


async def test_an_empty_outbox_says_what_fills_it(client: httpx.AsyncClient, owner: User) -> None:
    await sign_in(client)
    response = await client.get("/admin/emails")
    assert "No emails yet." in response.text
    assert (await client.get("/admin/emails/12345")).status_code == 404
    assert (await client.get("/admin/emails/not-a-number")).status_code == 404


async def test_without_smtp_the_page_says_emails_are_read_here(
    owner: User, world: World, enqueue: Enqueue, make_client: ClientFactory
) -> None:
    message_id = await enqueue("fan@example.com", "hello", lead_id=world.anna_lead.id)
    async with make_client() as client:
        await sign_in(client)
        for path in ("/admin/emails", f"/admin/emails/{message_id}"):
            html = (await client.get(path)).text
            assert "No email is sent: this instance has no SMTP server." in html
    async with make_client(smtp_host="smtp.example.com") as client:
        await sign_in(client)
        html = (await client.get("/admin/emails")).text
        assert "No email is sent" not in html


async def test_an_erased_leads_emails_are_gone_from_the_outbox(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, world: World, enqueue: Enqueue
) -> None:
    message_id = await enqueue("fan@example.com", "for the fan", lead_id=world.anna_lead.id)
    await enqueue("other@example.com", "for bob's fan", lead_id=world.bob_lead.id)
    await sign_in(client)
    assert "fan@example.com" in (await client.get("/admin/emails")).text
    await privacy.erase_person(session, "fan@example.com", visible=None)
    await session.commit()
    listed = await client.get("/admin/emails")
    assert "fan@example.com" not in listed.text
    assert subjects(listed.text) == ["for bob&#39;s fan"]
    assert (await client.get(f"/admin/emails/{message_id}")).status_code == 404
