"""The leads table at /admin/leads: each filter narrows it, the search, newest-first keyset pages
that keep the filters, a tampered cursor, the CSV export of the current filter, and an owner
limited to one handle never seeing another's leads."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.leads.models import Lead
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import assert_only_static_scripts, sign_in
from tests.factories import add_handle, add_lead, add_leads, add_page

ROW = re.compile(r'<a href="/admin/leads/(\d+)">([^<]+)</a>')
NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
PREV = re.compile(r'<a rel="prev" href="([^"]+)"')


def emails(html: str) -> list[str]:
    return [email for _, email in ROW.findall(html)]


def link(pattern: re.Pattern[str], html: str) -> str | None:
    found = pattern.search(html)
    return found.group(1).replace("&amp;", "&") if found else None


async def seed_mix(session: AsyncSession) -> dict[str, Lead]:
    """Leads that differ in one thing each, on two handles."""
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    guide = await add_page(session, anna, "anna-guide")
    other = await add_page(session, anna, "anna-other")
    bob_page = await add_page(session, bob, "bob-guide")
    day = datetime(2026, 11, 10, 12, tzinfo=UTC)
    leads = {
        "ig": await add_lead(
            session, guide, "ig@example.com", name="Iggy", source="instagram",
            status="confirmed", newsletter_consent=True, created_at=day,
        ),
        "tt": await add_lead(
            session, guide, "tt@example.com", name="Tina", source="tiktok",
            status="pending", newsletter_consent=False, created_at=day + timedelta(days=1),
        ),
        "other": await add_lead(
            session, other, "op@example.com", name="Otto", source="instagram",
            status="customer", newsletter_consent=True, created_at=day + timedelta(days=2),
        ),
        "bob": await add_lead(
            session, bob_page, "bob-fan@example.com", name="Bobby", source="tiktok",
            status="unsubscribed", newsletter_consent=False, created_at=day + timedelta(days=3),
        ),
    }  # fmt: skip
    await session.commit()
    return leads


async def test_the_table_lists_every_lead_newest_first_with_its_columns(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await seed_mix(session)
    await sign_in(client)
    page = await client.get("/admin/leads")
    assert page.status_code == 200
    assert "<h1>Leads</h1>" in page.text
    assert emails(page.text) == [
        "bob-fan@example.com",
        "op@example.com",
        "tt@example.com",
        "ig@example.com",
    ]
    assert 'table class="stack leads"' in page.text
    for label in ("Email", "Name", "Handle", "Page", "Source", "Status", "Newsletter"):
        assert f'data-label="{label}"' in page.text
    assert "Otto" in page.text
    assert "anna-other" in page.text
    assert "customer" in page.text
    assert_only_static_scripts(page.text)


async def test_each_filter_narrows_the_table(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await seed_mix(session)
    await sign_in(client)
    cases = {
        "handle=bob": ["bob-fan@example.com"],
        "handle=anna": ["op@example.com", "tt@example.com", "ig@example.com"],
        "page=anna-guide": ["tt@example.com", "ig@example.com"],
        "source=tiktok": ["bob-fan@example.com", "tt@example.com"],
        "status=customer": ["op@example.com"],
        "consent=yes": ["op@example.com", "ig@example.com"],
        "consent=no": ["bob-fan@example.com", "tt@example.com"],
        "from=2026-11-11&to=2026-11-12": ["op@example.com", "tt@example.com"],
        "source=instagram&status=confirmed&consent=yes": ["ig@example.com"],
        "q=tt@": ["tt@example.com"],
        "q=TT": ["tt@example.com"],
        "q=tin": ["tt@example.com"],  # the start of the name, any case
        "q=example": [],  # a prefix, not a substring
    }
    for query, expected in cases.items():
        page = await client.get(f"/admin/leads?{query}")
        assert page.status_code == 200, query
        assert emails(page.text) == expected, query
    empty = await client.get("/admin/leads?q=nobody")
    assert "No lead matches these filters" in empty.text


async def test_a_value_that_is_not_the_owners_is_dropped_with_a_note(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await seed_mix(session)
    await sign_in(client)
    page = await client.get("/admin/leads?handle=nobody&source=myspace&from=2026-13-01")
    assert page.status_code == 200
    assert len(emails(page.text)) == 4
    assert "That handle is not one of yours" in page.text
    assert "Pick a source from the list" in page.text
    assert 'id="from" name="from" type="date" value="" aria-invalid="true"' in page.text


async def test_keyset_pages_keep_the_filters_and_miss_nothing(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    handle = await add_handle(session, "anna")
    page = await add_page(session, handle, "anna-guide")
    made = await add_leads(session, page, 120)  # instagram, confirmed
    await add_leads(session, page, 7, prefix="skip")
    for lead in made[:7]:
        lead.source = "tiktok"  # left out by the filter below
    await session.commit()
    await sign_in(client)

    url: str | None = "/admin/leads?source=instagram&q=lead"
    seen: list[str] = []
    pages: list[str] = []
    while url:
        answer = await client.get(url)
        assert answer.status_code == 200
        pages.append(answer.text)
        seen += emails(answer.text)
        url = link(NEXT, answer.text)
        if url:
            assert "source=instagram" in url
            assert "q=lead" in url
    expected = [f"lead{n}@example.com" for n in range(119, 6, -1)]
    assert seen == expected
    assert [len(emails(html)) for html in pages] == [50, 50, 13]
    assert link(PREV, pages[0]) is None

    # "Newer" from the last page goes back to the second, then to the first.
    newer = link(PREV, pages[2])
    assert newer
    assert "source=instagram" in newer
    second = await client.get(newer)
    assert emails(second.text) == emails(pages[1])
    newest = link(PREV, second.text)
    assert newest
    first = await client.get(newest)
    assert emails(first.text) == emails(pages[0])
    assert link(PREV, first.text) is None


async def test_a_tampered_cursor_shows_the_first_page_with_a_note(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    handle = await add_handle(session, "anna")
    page = await add_page(session, handle, "anna-guide")
    await add_leads(session, page, 60)
    await session.commit()
    await sign_in(client)
    first = await client.get("/admin/leads")
    older = link(NEXT, first.text)
    assert older
    cursor = older.split("cursor=")[1]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "not-a-cursor", "x" * 600):
        answer = await client.get(f"/admin/leads?cursor={bad}")
        assert answer.status_code == 200
        assert "That page link is no longer valid" in answer.text
        assert emails(answer.text) == emails(first.text)


async def test_the_csv_is_the_filtered_rows_with_formulas_neutralised(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    leads = await seed_mix(session)
    leads["ig"].name = "=cmd|' /C calc'!A0"
    await session.commit()
    await sign_in(client)
    table = await client.get("/admin/leads?source=instagram")
    export = next(
        href.replace("&amp;", "&")
        for href in re.findall(r'href="(/admin/leads/export\.csv[^"]*)"', table.text)
    )
    assert "source=instagram" in export
    answer = await client.get(export)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["email"] for row in rows] == emails(table.text)
    assert [row["email"] for row in rows] == ["op@example.com", "ig@example.com"]
    assert rows[1]["name"] == "'=cmd|' /C calc'!A0"


async def test_an_owner_of_one_handle_sees_only_its_leads(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    leads = await seed_mix(session)
    anna_id = leads["ig"].handle_id
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER,
        handle_ids=[anna_id],
    )  # fmt: skip
    await session.commit()
    await sign_in(client, "anna@owners.example", "anna's long password")
    for query in ("", "?handle=bob", "?q=bob", "?page=bob-guide", "?source=tiktok"):
        page = await client.get(f"/admin/leads{query}")
        assert page.status_code == 200
        assert "bob-fan@example.com" not in page.text
        assert "@bob" not in page.text
    csv_text = (await client.get("/admin/leads/export.csv")).text
    assert "bob-fan@example.com" not in csv_text
    assert "ig@example.com" in csv_text
    assert (await client.get(f"/admin/leads/{leads['bob'].id}")).status_code == 404
    assert (await client.get(f"/admin/leads/{leads['ig'].id}")).status_code == 200
