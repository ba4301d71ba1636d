"""`/admin/report`: the per-source table, the range form and the inline SVG charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import report_page
from app.reports import service as reports
from app.users.models import User
from tests.admin.admin_helpers import assert_only_static_scripts, sign_in
from tests.factories import DayNumbers, seed_handle, seed_numbers

SVG = "{http://www.w3.org/2000/svg}"
DAY = date(2026, 10, 5)
HEADINGS = [
    "Source",
    "Likes",
    "Followers",
    "Visits",
    "Unique visitors",
    "Previews",
    "Leads",
    "Confirmed",
    "Customers",
    "Visit → lead",
    "Like → lead",
    "Lead → customer",
]


def svgs(html: str) -> dict[str, ET.Element]:
    charts = {}
    for match in re.finditer(r"<svg\b.*?</svg>", html, re.DOTALL):
        root = ET.fromstring(match.group(0))
        charts[root.get("id") or ""] = root
    return charts


def table_rows(html: str) -> list[list[str]]:
    table = re.search(r"<table[^>]*>(.*?)</table>", html, re.DOTALL)
    assert table
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL):
        rows.append(
            [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", row)]
        )
    return rows


def count(root: ET.Element, css_class: str) -> int:
    return sum(1 for r in root.iter(f"{SVG}rect") if r.get("class") == css_class)


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    anna, anna_page = await seed_handle(session, "anna")
    await seed_numbers(
        session,
        anna,
        anna_page,
        [
            DayNumbers(DAY, "instagram", visits=120, leads=4, confirmed=3, customers=1, likes=900),
            DayNumbers(DAY + timedelta(days=1), "instagram", visits=80, leads=2, likes=1100),
            DayNumbers(DAY, "tiktok", visits=50, leads=1),
            DayNumbers(DAY + timedelta(days=2), "tiktok", visits=10, leads=0),
        ],
    )
    bob, bob_page = await seed_handle(session, "bob")
    await seed_numbers(session, bob, bob_page, [DayNumbers(DAY, "youtube", visits=7, leads=7)])


RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=6)).isoformat()}


async def test_the_report_shows_each_source_with_the_report_fields(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    response = await client.get("/admin/report", params={**RANGE, "handle": "anna"})
    assert response.status_code == 200
    rows = table_rows(response.text)
    assert rows[0] == HEADINGS
    by_source = {row[0]: row for row in rows[1:]}
    assert by_source["instagram"] == [
        "instagram",
        "2,000",
        "11,000",
        "200",
        "200",
        "0",
        "6",
        "3",
        "1",
        "3.0%",
        "0.30%",
        "16.7%",
    ]
    assert by_source["tiktok"][1] == "—"  # no likes were ever sent for tiktok
    assert by_source["tiktok"][6] == "1"
    assert by_source["All sources"][3] == "260"
    assert by_source["All sources"][6] == "7"
    assert "youtube" not in by_source  # bob's numbers stay out of anna's report
    assert "selected>@anna</option>" in response.text


async def test_the_charts_are_inline_svg_with_the_right_bars(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    response = await client.get("/admin/report", params={**RANGE, "handle": "anna"})
    charts = svgs(response.text)
    assert set(charts) == {"funnel-0", "funnel-1", "leads-per-day", "like-to-lead"}
    # instagram: likes, visits, leads, confirmed, customers; tiktok: visits and leads only.
    assert count(charts["funnel-0"], "bar") == 5
    assert count(charts["funnel-1"], "bar") == 2
    # Leads on Oct 5 (instagram + tiktok) and Oct 6 (instagram).
    assert count(charts["leads-per-day"], "segment") == 3
    # Only instagram has likes to divide by.
    assert count(charts["like-to-lead"], "bar") == 1
    assert "no likes recorded" in response.text
    # The text alternative of the daily chart.
    assert "Leads per day as a table" in response.text
    # Nothing runs and nothing is fetched.
    assert_only_static_scripts(response.text)
    assert not re.search(r'(src|href)="(https?:)?//', response.text)


async def test_all_handles_is_the_default(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    response = await client.get("/admin/report", params=RANGE)
    sources = [row[0] for row in table_rows(response.text)[1:]]
    assert sources == ["instagram", "tiktok", "youtube", "All sources"]
    assert "all handles" in response.text


async def test_the_page_runs_one_funnel_query_and_one_leads_over_time_query(
    client: httpx.AsyncClient, owner: User, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    funnel, over_time = reports.conversion_report, reports.leads_by_source_over_time

    async def counting_funnel(*args: Any, **kwargs: Any) -> reports.Report:
        calls.append(f"funnel by {kwargs['group_by']}")
        return await funnel(*args, **kwargs)

    async def counting_over_time(*args: Any, **kwargs: Any) -> list[tuple[date, str, int]]:
        calls.append("leads over time")
        return await over_time(*args, **kwargs)

    monkeypatch.setattr(reports, "conversion_report", counting_funnel)
    monkeypatch.setattr(reports, "leads_by_source_over_time", counting_over_time)
    await sign_in(client)
    assert (await client.get("/admin/report", params=RANGE)).status_code == 200
    assert sorted(calls) == ["funnel by source", "leads over time"]


async def test_long_ranges_draw_a_bar_per_week(
    client: httpx.AsyncClient, owner: User, seeded: None
) -> None:
    await sign_in(client)
    start = DAY - timedelta(days=200)
    response = await client.get(
        "/admin/report", params={"from": start.isoformat(), "to": RANGE["to"]}
    )
    assert "Leads per week" in response.text
    chart = svgs(response.text)["leads-per-day"]
    titles = [t.text or "" for t in chart.iter(f"{SVG}title")]
    assert "week of Oct 5 · instagram: 6 leads" in titles


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "Enter a date like"),
        ({"to": "2026-13-40"}, "Enter a date like"),
        ({"from": "2026-10-10", "to": "2026-10-01"}, "The start is after the end"),
        ({"from": "2020-01-01", "to": "2026-10-01"}, "at most 366 days"),
        ({"handle": "nobody"}, "There is no such handle"),
    ],
)
async def test_a_bad_form_value_is_explained_and_replaced(
    client: httpx.AsyncClient, owner: User, params: dict[str, str], message: str
) -> None:
    await sign_in(client)
    response = await client.get("/admin/report", params=params)
    assert response.status_code == 200
    assert message in response.text
    assert 'role="alert"' in response.text


def test_the_default_range_is_the_last_four_weeks() -> None:
    today = date(2026, 11, 22)
    filters = report_page.parse_filters(
        handle=None, raw_from=None, raw_to=None, handles=[], today=today
    )
    assert (filters.start, filters.end) == (date(2026, 10, 26), today)
    assert not filters.errors


async def test_an_empty_instance_renders_a_friendly_report(
    client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    response = await client.get("/admin/report")
    assert response.status_code == 200
    assert "No visits, leads or likes in this range yet." in response.text
    assert "No leads in this range" in response.text
