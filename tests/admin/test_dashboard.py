"""`/admin`, the dashboard: the one link and per-platform links with their QR codes, the last 30
days' headline numbers, and the next step while something is missing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.links.sources import canonical_source, platform_sources
from app.users.models import User
from tests.admin.admin_helpers import ClientFactory, assert_only_static_scripts, sign_in
from tests.factories import DayNumbers, add_handle, add_page, seed_handle, seed_numbers

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE = "https://links.example.com"


def inline_svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m.group(0)) for m in re.finditer(r"<svg\b.*?</svg>", html, re.DOTALL)]


async def test_signing_in_lands_on_the_dashboard(client: httpx.AsyncClient, owner: User) -> None:
    response = await sign_in(client)
    assert response.headers["location"] == "/admin"
    page = await client.get("/admin")
    assert page.status_code == 200
    assert "<h1>Dashboard</h1>" in page.text
    assert 'aria-current="page">Dashboard<' in page.text


async def test_the_dashboard_shows_the_one_link_per_platform_links_and_their_qr_codes(
    make_client: ClientFactory, session: AsyncSession, owner: User
) -> None:
    anna = await add_handle(session, "anna")
    await add_page(session, anna, "anna-guide")
    await session.commit()
    async with make_client(base_url=BASE) as client:
        await sign_in(client)
        response = await client.get("/admin")
    html = response.text
    assert response.status_code == 200
    assert_only_static_scripts(html)
    assert "style=" not in html  # CSP: style-src 'self'
    assert f'value="{BASE}/@anna" readonly' in html
    # The copy button does nothing without admin.js: it comes hidden, and the script shows it.
    assert 'hidden data-copy="#link-anna-all"' in html
    aliases = re.findall(rf"{re.escape(BASE)}/@anna/([a-z]+)</code>", html)
    assert [canonical_source(alias) for alias in aliases] == list(platform_sources())
    assert f"{BASE}/@anna/ig<" in html
    assert f"{BASE}/@anna/tiktok<" in html
    svgs = inline_svgs(html)
    assert len(svgs) == 1 + len(platform_sources())
    for svg in svgs:
        assert svg.get("role") == "img"
        title = svg.find(f"{SVG}title")
        assert title is not None
        assert title.text is not None
        assert title.text.startswith(f"QR code of {BASE}/@anna")
        assert svg.find(f"{SVG}path") is not None
        assert svg.get("style") is None
    assert "/admin/handles/anna/qr.png?source=tiktok" in html
    assert "Create your first page" not in html


async def test_qr_downloads_are_attachments_of_the_right_type(
    make_client: ClientFactory, session: AsyncSession, owner: User
) -> None:
    await add_handle(session, "anna")
    await session.commit()
    async with make_client(base_url=BASE) as client:
        await sign_in(client)
        svg = await client.get("/admin/handles/anna/qr.svg")
        png = await client.get("/admin/handles/anna/qr.png", params={"source": "tiktok"})
        alias = await client.get("/admin/handles/anna/qr.png", params={"source": "ig"})
        unknown = await client.get("/admin/handles/anna/qr.svg", params={"source": "myspace"})
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-disposition"] == (
        'attachment; filename="leadlink-anna-one-link-qr.svg"'
    )
    root = ET.fromstring(svg.content)
    assert root.tag == f"{SVG}svg"
    assert next(root.iter(f"{SVG}path"), None) is not None
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == f"QR code of {BASE}/@anna"
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_SIGNATURE)
    assert png.headers["content-disposition"] == (
        'attachment; filename="leadlink-anna-tiktok-qr.png"'
    )
    assert alias.headers["content-disposition"].endswith('leadlink-anna-instagram-qr.png"')
    assert unknown.status_code == 404


async def test_the_headline_numbers_are_the_last_30_days_of_the_report(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    handle, page_id = await seed_handle(session, "anna")
    today = date.today()
    await seed_numbers(
        session,
        handle,
        page_id,
        [
            DayNumbers(
                today - timedelta(days=1),
                "tiktok",
                visits=40,
                leads=4,
                customers=1,
                confirmed=2,
                likes=800,
            ),
            DayNumbers(today - timedelta(days=3), "instagram", visits=10, leads=1, likes=200),
            # Older than 30 days: not counted.
            DayNumbers(today - timedelta(days=45), "instagram", visits=999, leads=99),
        ],
    )
    await session.commit()
    await sign_in(client)
    html = (await client.get("/admin")).text
    numbers = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert numbers == {
        "Likes": "1,000",
        "Visits": "50",
        "Leads": "5",
        "Like → lead": "0.50%",
        "Customers": "1",
    }
    start = today - timedelta(days=29)
    assert f'href="/admin/report?from={start.isoformat()}&amp;to={today.isoformat()}"' in html
    assert "Enter your likes" not in html


async def test_empty_states_say_what_to_do_next(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await sign_in(client)
    first = (await client.get("/admin")).text
    assert "Create your first handle" in first
    assert 'href="/admin/handles#create"' in first

    anna = await add_handle(session, "anna")
    await add_page(session, anna, "anna-draft", status="draft")
    await session.commit()
    second = (await client.get("/admin")).text
    assert "Create your first handle" not in second
    assert "Create your first page" in second
    assert 'href="/admin/pages/new"' in second
    assert "No likes entered" in second
    assert '<a href="/admin/likes">Enter your likes</a>' in second
