"""`/admin/report`: date presets, tables that fit a phone, the days without likes, the A/B
section, and a number of queries that does not grow with the handles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.admin import report_page
from app.links import service as links
from app.links.visits import write_visits
from app.pages.models import Page
from app.users.models import User
from tests.admin.admin_helpers import sign_in
from tests.factories import (
    DayNumbers,
    create_published_page,
    insert_lead,
    make_visit,
    seed_handle,
    seed_numbers,
)

DAY = date(2026, 10, 5)
RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=9)).isoformat()}
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    anna, anna_page = await seed_handle(session, "anna")
    await seed_numbers(
        session,
        anna,
        anna_page,
        [
            DayNumbers(DAY, "instagram", visits=120, leads=4, likes=900),
            DayNumbers(DAY + timedelta(days=1), "instagram", visits=80, leads=2, likes=1100),
            DayNumbers(DAY, "tiktok", visits=50, leads=1),
            DayNumbers(DAY, "direct", visits=5, leads=1),
        ],
    )
    await session.commit()


async def add_ab_test(session: AsyncSession, name: str) -> None:
    """A handle whose tiktok visitors are split between two pages: b converts better."""
    handle, page_a_id = await seed_handle(session, name)
    page_b = await create_published_page(session, handle, f"{name}-guide-b")
    route_a = await links.add_route(
        session, handle, source="tiktok", page_slug=f"{name}-guide", variant="a"
    )
    route_b = await links.add_route(
        session, handle, source="tiktok", page_slug=f"{name}-guide-b", variant="b"
    )
    at = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    visits = []
    for route, page_id, count in ((route_a, page_a_id, 100), (route_b, page_b.id, 100)):
        visits += [
            make_visit(
                handle.id, page_id, at, UTC_ZONE, source="tiktok", route_id=route.id, variant="x"
            )
            for _ in range(count)
        ]
    await write_visits(session, visits)
    page_a = await session.get(Page, page_a_id)
    assert page_a is not None
    for route, target, leads in ((route_a, page_a, 5), (route_b, page_b, 20)):
        for _ in range(leads):
            await insert_lead(session, target, at, route_id=route.id, variant=route.variant)
    await session.commit()


def cells(html: str) -> list[str]:
    """Every <td> and row <th> of the tables marked to stack on a phone."""
    found = []
    for table in re.findall(r'<table class="stack[^"]*">(.*?)</table>', html, re.DOTALL):
        body = re.sub(r"<thead>.*?</thead>", "", table, flags=re.DOTALL)
        found += re.findall(r"<t[dh]\b[^>]*>", body)
    return found


async def test_every_cell_of_the_report_tables_is_labelled_for_a_phone(
    client: httpx.AsyncClient, owner: User, seeded: None, session: AsyncSession
) -> None:
    await add_ab_test(session, "carl")
    await sign_in(client)
    for params in (RANGE, {**RANGE, "handle": "carl"}):
        html = (await client.get("/admin/report", params=params)).text
        assert "<table>" not in html, "a table that does not stack on a phone"
        found = cells(html)
        assert found
        assert all('data-label="' in cell for cell in found), [
            cell for cell in found if "data-label" not in cell
        ]
    # The per-source table keeps all twelve columns, each named on the phone's cards.
    html = (await client.get("/admin/report", params=RANGE)).text
    labels = set(re.findall(r'data-label="([^"]+)"', html))
    assert {heading for _key, heading in report_page.COLUMNS} <= labels


async def test_presets_set_the_range_and_mark_the_current_one(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    today = report_page.today_in("UTC")
    html = (await client.get("/admin/report", params={"handle": "anna"})).text
    links_found = dict(re.findall(r'<li><a href="([^"]+)"[^>]*>([^<]+)</a></li>', html))
    by_label = {label: href.replace("&amp;", "&") for href, label in links_found.items()}
    week_start = (today - timedelta(days=6)).isoformat()
    assert by_label["Last 7 days"] == f"/admin/report?handle=anna&from={week_start}&to={today}"
    assert by_label["This month"].endswith(f"from={today.replace(day=1)}&to={today}")
    assert "Last 30 days" in by_label
    assert "Last 90 days" in by_label
    assert 'aria-current="true"' not in html  # the default 28 days is no preset
    chosen = (
        await client.get("/admin/report", params={"from": week_start, "to": today.isoformat()})
    ).text
    assert re.search(r'aria-current="true">Last 7 days<', chosen)
    assert chosen.count('aria-current="true"') == 1


async def test_the_platforms_and_days_without_likes_are_named(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    html = (await client.get("/admin/report", params={**RANGE, "handle": "anna"})).text
    # instagram had visits on two days and likes on both of the ten: eight days lack them.
    assert "No likes for instagram on 8 of 10 days" in html
    assert "No likes for tiktok on 10 of 10 days" in html
    assert "No likes for direct" not in html  # not a platform with likes
    assert '<a href="/admin/likes?handle=anna">enter them on the Likes page</a>' in html
    every = (await client.get("/admin/report", params=RANGE)).text
    assert "No likes for tiktok on @anna on 10 of 10 days" in every


async def test_no_note_when_every_day_has_likes(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    params = {
        "handle": "anna",
        "from": DAY.isoformat(),
        "to": (DAY + timedelta(days=1)).isoformat(),
    }
    html = (await client.get("/admin/report", params=params)).text
    assert "No likes for instagram" not in html
    assert "No likes for tiktok on 2 of 2 days" in html


async def test_the_ab_section_shows_a_handles_variants(
    client: httpx.AsyncClient, owner: User, seeded: None, session: AsyncSession
) -> None:
    await add_ab_test(session, "carl")
    await sign_in(client)
    html = (await client.get("/admin/report", params={**RANGE, "handle": "carl"})).text
    assert '<h2 id="ab-tests">A/B tests</h2>' in html
    section = html.split('id="ab-tests"')[1]
    rows = re.findall(r"<tr><th scope=\"row\" data-label=\"Test\">(.*?)</tr>", section, re.S)
    texts = [re.sub(r"<[^>]+>", "|", row) for row in rows]
    assert len(texts) == 2
    a = next(t for t in texts if "|a|" in t)
    b = next(t for t in texts if "|b|" in t)
    assert "tiktok" in a
    assert "|100|" in a
    assert "|5|" in a
    assert "|5.0%|" in a
    assert "|20.0%|" in b
    assert re.search(r"\|(99|100)%\|", b)  # b is almost surely the better page
    # All handles: a link to each handle that runs a test.
    every = (await client.get("/admin/report", params=RANGE)).text
    assert re.search(r'<a href="/admin/report\?handle=carl&amp;from=[^"]+">@carl</a>', every)


async def test_no_ab_section_without_a_test(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    html = (await client.get("/admin/report", params={**RANGE, "handle": "anna"})).text
    assert "A/B tests" not in html


@contextmanager
def counting_statements(connection: AsyncConnection) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    target = connection.sync_connection
    assert target is not None
    event.listen(target, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", count)


async def test_the_number_of_queries_does_not_grow_with_the_handles(
    client: httpx.AsyncClient,
    owner: User,
    seeded: None,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    await add_ab_test(session, "carl")
    await sign_in(client)
    await client.get("/admin/report", params=RANGE)
    with counting_statements(connection) as few:
        assert (await client.get("/admin/report", params=RANGE)).status_code == 200
    for name in ("dora", "emil", "finn"):
        await add_ab_test(session, name)
    with counting_statements(connection) as many:
        assert (await client.get("/admin/report", params=RANGE)).status_code == 200
    assert len(many) == len(few)
    with counting_statements(connection) as one:
        params = {**RANGE, "handle": "carl"}
        assert (await client.get("/admin/report", params=params)).status_code == 200
    assert len(one) == len(few) + 3  # the chosen handle's variant report
