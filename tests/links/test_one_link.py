"""The one link `/@handle`: what a visitor gets, and what the creator's counts say afterwards.

Every test runs on SQLite and PostgreSQL through the real app (`client`); visits are written by
the write-behind task, so each test flushes the writer before it reads what was stored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.db import Database, create_engine
from app.handles.exceptions import HandleTaken, InvalidHandle
from app.handles.models import Handle
from app.links import service as links
from app.links.attribution import read_attribution
from app.links.models import EXTERNAL_PAGE_ID, Route, Visit, VisitorDay, VisitRollup
from app.links.resolver import LinkResolver
from app.links.sources import MAX_HOST_LENGTH, MAX_VALUE_LENGTH
from app.pages import service as pages
from app.pages.models import Page, PageStatus
from tests.databases import FreshDatabases, make_settings
from tests.servers import running_server, serve_env
from tests.waiting import wait_until

IG_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-S908B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 Instagram "
    "301.0.0.33.110 Android (33/13; 480dpi; 1080x2088; samsung; SM-S908B; b0q; qcom; en_GB; "
    "517986703)"
)
TIKTOK_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; SM-G973F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/110.0.5481.153 Mobile Safari/537.36 "
    "musical_ly_2022903030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly "
    "app_version/29.3.3 ByteLocale/en ByteFullLocale/en Region/US AppId/1233"
)
TIKTOK_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_30.8.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
EXTERNAL_TARGET = "https://shop.example.com/spring?sale=1&x=%C3%A9"
URL_ATTRIBUTE = re.compile(r'(?:href|src|action)="([^"]*)"|property="og:url" content="([^"]*)"')
INPUT_TAG = re.compile(r"<input\b[^>]*>")
VALUE_ATTRIBUTE = re.compile(r'\bvalue="([^"]*)"')


@dataclass
class Setup:
    handle: Handle
    page_a: Page
    page_b: Page


@contextlib.asynccontextmanager
async def app_session(app: Any) -> AsyncIterator[AsyncSession]:
    """A committed session of the app's own database. It takes turns with the app's background
    work (the visit writer) on the test's shared connection, which the `session` fixture does not.
    """
    async with app.state.database.session() as session:
        yield session
        await session.commit()


@pytest.fixture
async def anna(app: Any) -> Setup:
    """Handle `anna`: default page A, page B, both published; no routes yet."""
    async with app_session(app) as session:
        handle = await links.create_handle(session, "anna", display_name="Anna")
        page_a = await pages.create_page(
            session, handle, slug="gift-a", title="Gift A title", headline="Get gift A"
        )
        page_b = await pages.create_page(
            session, handle, slug="gift-b", title="Gift B title", headline="Get gift B"
        )
        await pages.publish_page(session, page_a)
        await pages.publish_page(session, page_b)
    return Setup(handle, page_a, page_b)


async def add_route(app: Any, handle: Handle, **route: Any) -> Route:
    """Add a route as the creator would, and let the one link see it at once."""
    async with app_session(app) as session:
        added = await links.add_route(session, handle, **route)
    app.state.one_link.resolver.invalidate()
    return added


async def stored_visits(app: Any) -> list[Visit]:
    await app.state.one_link.writer.flush()
    async with app.state.database.session(write=False) as session:
        result = await session.scalars(select(Visit).order_by(Visit.id))
        return list(result.all())


async def stored_rollups(app: Any) -> dict[tuple[int, str], tuple[int, int, int]]:
    """(page_id, source) → (visits, unique_visitors, previews)."""
    await app.state.one_link.writer.flush()
    async with app.state.database.session(write=False) as session:
        rows = await session.execute(
            select(
                VisitRollup.page_id,
                VisitRollup.source,
                VisitRollup.visits,
                VisitRollup.unique_visitors,
                VisitRollup.previews,
            )
        )
        return {(row[0], row[1]): (row[2], row[3], row[4]) for row in rows}


def url_attributes(html: str) -> list[str]:
    return [href or og for href, og in URL_ATTRIBUTE.findall(html)]


def attribution_token(html: str) -> str:
    """The value of the opt-in form's hidden field `a`."""
    for tag in INPUT_TAG.findall(html):
        if 'name="a"' in tag and 'type="hidden"' in tag:
            value = VALUE_ATTRIBUTE.search(tag)
            assert value is not None, tag
            return value.group(1)
    raise AssertionError("the opt-in form has no attribution field")


# --- the page a visitor gets ------------------------------------------------------------------


async def test_handle_renders_its_default_page_directly(
    client: httpx.AsyncClient, anna: Setup
) -> None:
    response = await client.get("/@anna", headers={"User-Agent": IG_ANDROID})

    assert response.status_code == 200
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "Get gift A" in response.text
    assert '<form method="post" action="/p/gift-a">' in response.text


@pytest.mark.parametrize("path", ["/@Anna", "/@ANNA/", "/@anna/ig/", "/@anna/IG"])
async def test_handle_path_variants_render_the_page(
    client: httpx.AsyncClient, anna: Setup, path: str
) -> None:
    response = await client.get(path, headers={"User-Agent": SAFARI_IPHONE})
    assert response.status_code == 200
    assert "Get gift A" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/@nobody",
        "/@nobody/ig",
        "/@",
        "/@-bad-",
        "/@anna/ig/extra",
        "/@" + "a" * 31,
        "/p/no-such-page",
    ],
)
async def test_unknown_handle_is_a_friendly_404_never_a_redirect(
    client: httpx.AsyncClient, anna: Setup, path: str
) -> None:
    response = await client.get(path, headers={"User-Agent": SAFARI_IPHONE})

    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no page at this link" in response.text


async def test_handle_without_a_published_page_is_a_404(
    client: httpx.AsyncClient, app: Any
) -> None:
    async with app_session(app) as session:
        handle = await links.create_handle(session, "drafty")
        await pages.create_page(session, handle, slug="drafty-page", title="Draft")

    response = await client.get("/@drafty")

    assert response.status_code == 404
    assert "location" not in response.headers
    assert await stored_visits(app) == []


@pytest.mark.parametrize("status", [PageStatus.DRAFT, PageStatus.ARCHIVED])
async def test_unpublished_page_is_a_404_everywhere(
    client: httpx.AsyncClient, app: Any, anna: Setup, status: PageStatus
) -> None:
    await add_route(app, anna.handle, source="tiktok", page_slug="gift-b")
    async with app_session(app) as session:
        page = await session.get(Page, anna.page_b.id)
        assert page is not None
        page.status = status.value
    app.state.one_link.resolver.invalidate()

    assert (await client.get("/p/gift-b")).status_code == 404
    # A route to an unpublished page falls back to the default page.
    response = await client.get("/@anna/tiktok")
    assert response.status_code == 200
    assert "Get gift A" in response.text
    assert [visit.page_id for visit in await stored_visits(app)] == [anna.page_a.id]


# --- sources and routing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "source", "rule"),
    [
        ("/@anna/ig", "instagram", "path"),
        ("/@anna/instagram", "instagram", "path"),
        ("/@anna/tiktok", "tiktok", "path"),
        ("/@anna/tt", "tiktok", "path"),
        ("/@anna/x", "x", "path"),
        ("/@anna/yt", "youtube", "path"),
        ("/@anna/li", "linkedin", "path"),
        ("/@anna?src=fb", "facebook", "src"),
        ("/@anna?utm_source=pinterest", "pinterest", "utm_source"),
        ("/@anna", "direct", "direct"),
    ],
)
async def test_path_and_query_attribute_the_source(
    client: httpx.AsyncClient,
    *,
    app: Any,
    anna: Setup,
    path: str,
    source: str,
    rule: str,
) -> None:
    response = await client.get(path, headers={"User-Agent": SAFARI_IPHONE})
    assert response.status_code == 200

    [visit] = await stored_visits(app)
    assert (visit.kind, visit.source, visit.rule) == ("visit", source, rule)
    assert (visit.handle_id, visit.page_id) == (anna.handle.id, anna.page_a.id)
    assert visit.device_class == "mobile"
    assert await stored_rollups(app) == {(anna.page_a.id, source): (1, 1, 0)}


async def test_in_app_browser_and_referrer_are_recorded(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    await client.get(
        "/@anna?utm_medium=bio&utm_campaign=spring&utm_content=reel-3",
        headers={"User-Agent": IG_ANDROID, "Referer": "https://l.instagram.com/"},
    )

    [visit] = await stored_visits(app)
    assert (visit.source, visit.rule, visit.in_app_browser) == ("instagram", "in_app", "instagram")
    assert visit.referrer_host == "l.instagram.com"
    assert (visit.medium, visit.campaign, visit.content) == ("bio", "spring", "reel-3")


@pytest.mark.parametrize(
    ("path", "user_agent"),
    [
        pytest.param("/@anna", TIKTOK_ANDROID, id="tiktok-android-ua"),
        pytest.param("/@anna", TIKTOK_IOS, id="tiktok-ios-ua"),
        pytest.param("/@anna/tiktok", SAFARI_IPHONE, id="path-tiktok"),
        pytest.param("/@anna/tt", CHROME_DESKTOP, id="path-tt"),
        pytest.param("/@anna?utm_source=tiktok", SAFARI_IPHONE, id="utm-tiktok"),
    ],
)
async def test_source_route_sends_tiktok_visitors_to_page_b(
    client: httpx.AsyncClient,
    *,
    app: Any,
    anna: Setup,
    path: str,
    user_agent: str,
) -> None:
    route = await add_route(app, anna.handle, source="tiktok", page_slug="gift-b")

    response = await client.get(path, headers={"User-Agent": user_agent})
    others = await client.get("/@anna/ig", headers={"User-Agent": user_agent})

    assert response.status_code == 200
    assert "Get gift B" in response.text
    assert "Get gift A" in others.text
    tiktok, instagram = await stored_visits(app)
    assert (tiktok.source, tiktok.page_id, tiktok.route_id) == ("tiktok", anna.page_b.id, route.id)
    assert (instagram.source, instagram.page_id, instagram.route_id) == (
        "instagram",
        anna.page_a.id,
        None,
    )


async def test_ab_variants_split_visitors_and_stick(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    await add_route(app, anna.handle, page_slug="gift-a", weight=50, variant="a")
    await add_route(app, anna.handle, page_slug="gift-b", weight=50, variant="b")

    agents = [f"{SAFARI_IPHONE} visitor/{index}" for index in range(40)]
    first = [(await client.get("/@anna", headers={"User-Agent": ua})).text for ua in agents]
    again = [(await client.get("/@anna", headers={"User-Agent": ua})).text for ua in agents]

    saw_b = ["Get gift B" in html for html in first]
    assert any(saw_b)
    assert not all(saw_b)
    assert saw_b == ["Get gift B" in html for html in again]
    visits = await stored_visits(app)
    assert len(visits) == 80
    assert {visit.variant for visit in visits} == {"a", "b"}
    by_page = {visit.page_id: visit.variant for visit in visits}
    assert by_page == {anna.page_a.id: "a", anna.page_b.id: "b"}


async def test_external_route_redirects_to_exactly_the_stored_url(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    route = await add_route(app, anna.handle, source="x", target_url=EXTERNAL_TARGET)

    response = await client.get("/@anna/x", headers={"User-Agent": CHROME_DESKTOP})

    assert response.status_code == 302
    assert response.headers["location"] == EXTERNAL_TARGET
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""
    [visit] = await stored_visits(app)
    assert (visit.kind, visit.source, visit.page_id, visit.route_id) == (
        "visit",
        "x",
        None,
        route.id,
    )
    assert await stored_rollups(app) == {(EXTERNAL_PAGE_ID, "x"): (1, 1, 0)}


REDIRECT_PARAMETERS = [
    "next=https://evil.example/",
    "url=https://evil.example/",
    "redirect=https://evil.example/",
    "return_to=//evil.example",
    "redirect_uri=https://evil.example/",
    "continue=javascript:alert(1)",
    "next=%2F%2Fevil.example&url=%0d%0aLocation:%20https://evil.example/",
]


@pytest.mark.parametrize("query", REDIRECT_PARAMETERS)
async def test_no_query_parameter_changes_where_a_response_points(
    client: httpx.AsyncClient, app: Any, anna: Setup, query: str
) -> None:
    await add_route(app, anna.handle, source="x", target_url=EXTERNAL_TARGET)
    baseline = url_attributes((await client.get("/@anna/ig")).text)

    redirect = await client.get(f"/@anna/x?{query}")
    page = await client.get(f"/@anna/ig?{query}")
    by_slug = await client.get(f"/p/gift-a?{query}")

    assert redirect.status_code == 302
    assert redirect.headers["location"] == EXTERNAL_TARGET
    for response in (page, by_slug):
        assert response.status_code == 200
        assert "location" not in response.headers
        assert url_attributes(response.text) == baseline
        assert "evil" not in response.text


async def test_rendered_page_carries_no_tracking_parameters(
    client: httpx.AsyncClient, anna: Setup
) -> None:
    response = await client.get(
        "/@anna/ig?src=ig&utm_source=instagram&utm_medium=bio&utm_campaign=spring"
        "&fbclid=IwAR0abc&ttclid=E.C.P.abc&gclid=xyz",
        headers={"User-Agent": IG_ANDROID},
    )

    assert response.status_code == 200
    urls = url_attributes(response.text)
    assert "/p/gift-a" in urls
    for url in urls:
        for parameter in ("utm_", "fbclid", "ttclid", "gclid", "src=", "?"):
            assert parameter not in url, url
    for value in ("IwAR0abc", "E.C.P.abc", "spring"):
        assert value not in response.text


# --- bots, HEAD, prefetch ---------------------------------------------------------------------

PREVIEW_AGENTS = [
    pytest.param(
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", id="facebook"
    ),
    pytest.param("Twitterbot/1.0", id="twitter"),
    pytest.param("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", id="slack"),
    pytest.param("WhatsApp/2.23.20.0 A", id="whatsapp-android"),
    pytest.param("WhatsApp/2.2335.9 i", id="whatsapp-ios"),
    pytest.param(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", id="googlebot"
    ),
    pytest.param("TelegramBot (like TwitterBot)", id="telegram"),
    pytest.param(
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        id="linkedin",
    ),
    pytest.param("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", id="discord"),
    pytest.param(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", id="bing"
    ),
    pytest.param("", id="empty-user-agent"),
]


@pytest.mark.parametrize("user_agent", PREVIEW_AGENTS)
async def test_preview_fetchers_get_open_graph_tags_and_count_as_previews(
    client: httpx.AsyncClient, app: Any, anna: Setup, user_agent: str
) -> None:
    response = await client.get("/@anna/ig", headers={"User-Agent": user_agent})

    assert response.status_code == 200
    assert '<meta property="og:title" content="Gift A title">' in response.text
    assert '<meta name="twitter:card" content="summary">' in response.text
    [visit] = await stored_visits(app)
    assert (visit.kind, visit.source) == ("preview", "instagram")
    assert await stored_rollups(app) == {(anna.page_a.id, "instagram"): (0, 0, 1)}


async def test_previews_and_visits_are_counted_apart(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    await client.get("/@anna/ig", headers={"User-Agent": "Twitterbot/1.0"})
    await client.get("/@anna/ig", headers={"User-Agent": IG_ANDROID})
    await client.get("/@anna/ig", headers={"User-Agent": "facebookexternalhit/1.1"})

    assert await stored_rollups(app) == {(anna.page_a.id, "instagram"): (1, 1, 2)}


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("HEAD", {}, id="head"),
        pytest.param("GET", {"Purpose": "prefetch"}, id="purpose-prefetch"),
        pytest.param("GET", {"Sec-Purpose": "prefetch"}, id="sec-purpose-prefetch"),
        pytest.param("GET", {"Sec-Purpose": "prefetch;prerender"}, id="sec-purpose-prerender"),
        pytest.param("GET", {"X-Purpose": "preview"}, id="x-purpose-preview"),
        pytest.param("GET", {"X-Moz": "prefetch"}, id="x-moz-prefetch"),
        pytest.param("HEAD", {"User-Agent": "Twitterbot/1.0"}, id="head-from-a-bot"),
    ],
)
async def test_head_and_prefetch_are_answered_but_never_counted(
    client: httpx.AsyncClient,
    *,
    app: Any,
    anna: Setup,
    method: str,
    headers: dict[str, str],
) -> None:
    await add_route(app, anna.handle, source="x", target_url=EXTERNAL_TARGET)
    headers = {"User-Agent": SAFARI_IPHONE, **headers}

    page = await client.request(method, "/@anna", headers=headers)
    by_slug = await client.request(method, "/p/gift-b", headers=headers)
    redirect = await client.request(method, "/@anna/x", headers=headers)

    assert page.status_code == 200
    assert by_slug.status_code == 200
    assert redirect.status_code == 302
    assert redirect.headers["location"] == EXTERNAL_TARGET
    if method == "HEAD":
        assert page.content == b""
        assert int(page.headers["content-length"]) > 0
    else:
        assert "Get gift A" in page.text
    assert await stored_visits(app) == []
    assert await stored_rollups(app) == {}


# --- attribution carried to the form ----------------------------------------------------------


async def test_form_carries_the_visit_attribution_signed(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    route = await add_route(
        app, anna.handle, source="tiktok", page_slug="gift-b", variant="gift-b-spring"
    )

    response = await client.get(
        "/@anna/tt?utm_medium=bio&utm_campaign=spring", headers={"User-Agent": TIKTOK_IOS}
    )

    token = attribution_token(response.text)
    attribution = read_attribution(app.state.one_link.signer, token)
    assert attribution is not None
    [visit] = await stored_visits(app)
    assert (attribution.source, attribution.medium, attribution.campaign) == (
        visit.source,
        visit.medium,
        visit.campaign,
    )
    assert (attribution.source, attribution.campaign) == ("tiktok", "spring")
    assert (attribution.variant, attribution.route_id) == ("gift-b-spring", route.id)
    assert (attribution.variant, attribution.route_id) == (visit.variant, visit.route_id)
    assert (attribution.handle_id, attribution.page_id) == (anna.handle.id, anna.page_b.id)
    assert attribution.visit_ref == visit.ref


async def test_every_visit_gets_its_own_token(client: httpx.AsyncClient, anna: Setup) -> None:
    human = {"User-Agent": SAFARI_IPHONE}
    first = attribution_token((await client.get("/@anna", headers=human)).text)
    second = attribution_token((await client.get("/@anna", headers=human)).text)
    assert first != second


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tampered(token: str) -> list[str]:
    body, signature = token.split(".")
    payload = _unb64(body)
    # What a visitor would try: claim another source, or a campaign, keeping the signature.
    other_source = _b64(payload.replace(b"instagram", b"tiktok"))
    with_campaign = _b64(payload.replace(b"instagram\x1f\x1f", b"instagram\x1f\x1fspring"))
    mac = bytearray(_unb64(signature))
    mac[0] ^= 1
    return [
        other_source + "." + signature,
        with_campaign + "." + signature,
        body + "." + _b64(bytes(mac)),
        body + "." + signature[:-2],
        body + "x." + signature,
        body,
        "." + signature,
        token + ".",
        "",
        "not-a-token",
        "a" * 5000,
    ]


async def test_tampered_attribution_is_refused(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    response = await client.get("/@anna/ig", headers={"User-Agent": SAFARI_IPHONE})
    token = attribution_token(response.text)
    signer = app.state.one_link.signer
    genuine = read_attribution(signer, token)
    assert genuine is not None
    assert genuine.source == "instagram"
    forgeries = _tampered(token)
    assert len(set(forgeries)) == len(forgeries)
    assert token not in forgeries
    for forged in forgeries:
        assert read_attribution(signer, forged) is None, forged


# --- hostile input ----------------------------------------------------------------------------

MEGABYTE = 1_000_000
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Hostile:
    path: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


HOSTILE_REQUESTS = [
    pytest.param(Hostile("/@anna%0d%0aSet-Cookie:%20evil=1"), id="crlf-in-handle"),
    pytest.param(Hostile("/@anna/ig%0d%0aX-Evil:%201"), id="crlf-in-path-source"),
    pytest.param(Hostile("/@anna%00"), id="nul-in-handle"),
    pytest.param(Hostile("/p/gift-a%0d%0aX-Evil:%201"), id="crlf-in-slug"),
    pytest.param(Hostile("/@" + "a" * MEGABYTE), id="megabyte-handle"),
    pytest.param(Hostile("/@anna/" + "i" * MEGABYTE), id="megabyte-path-source"),
    pytest.param(Hostile("/@anna?src=ig%0d%0aX-Evil:%201"), id="crlf-in-src"),
    pytest.param(Hostile("/@anna?utm_source=%00%0d%0aevil&utm_campaign=a%0ab"), id="nul-in-utm"),
    pytest.param(Hostile("/@anna?utm_campaign=" + "c" * MEGABYTE), id="megabyte-campaign"),
    pytest.param(Hostile("/@anna?src=" + "s" * MEGABYTE), id="megabyte-src"),
    pytest.param(Hostile("/@anna?" + "&".join(["a=1"] * 200)), id="many-query-fields"),
    pytest.param(Hostile("/@anna?" + "&".join(["utm_x=1"] * 51)), id="51-query-fields"),
    pytest.param(Hostile("/@anna?%ff%fe=%c0%af&utm_source=%e2%80%ae"), id="bad-utf8-query"),
    pytest.param(Hostile("/@anna?fbclid=" + "f" * MEGABYTE), id="megabyte-fbclid"),
    pytest.param(
        Hostile("/@anna", ((b"referer", b"https://l.instagram.com/\r\nX-Evil: 1"),)),
        id="crlf-in-referer",
    ),
    pytest.param(
        Hostile("/@anna", ((b"referer", b"https://evil.example\x00.com/"),)), id="nul-in-referer"
    ),
    pytest.param(
        Hostile("/@anna", ((b"referer", b"https://" + b"a" * MEGABYTE + b".com/"),)),
        id="megabyte-referer-host",
    ),
    pytest.param(
        Hostile("/@anna", ((b"referer", b"https://" + b"a." * 400 + b"com/"),)),
        id="long-referer-host",
    ),
    pytest.param(
        Hostile("/@anna", ((b"user-agent", b"Mozilla/5.0\r\nX-Evil: 1"),)), id="crlf-in-ua"
    ),
    pytest.param(
        Hostile("/@anna", ((b"user-agent", b"Instagram\x00 301.0 Android"),)), id="nul-in-ua"
    ),
    pytest.param(
        Hostile("/@anna", ((b"user-agent", b"Mozilla/5.0 " + b"x" * MEGABYTE),)),
        id="megabyte-ua",
    ),
    pytest.param(
        Hostile("/@anna", ((b"x-forwarded-for", b"1.2.3.4\r\nX-Evil: 1, " * 1000),)),
        id="hostile-forwarded-for",
    ),
    pytest.param(
        Hostile("/@anna", ((b"sec-purpose", b"\x00" * MEGABYTE),)), id="megabyte-sec-purpose"
    ),
    pytest.param(Hostile("/@anna/x?next=%0d%0aLocation:%20https://evil/"), id="crlf-redirect"),
]


async def _raw_get(app: Any, path: str, headers: tuple[tuple[bytes, bytes], ...]) -> Any:
    """GET through the ASGI interface directly, headers as raw bytes (as a lenient server would
    pass them), so CR/LF/NUL really reach the app. Returns (status, headers, body).
    """
    raw_path, _, query = path.partition("?")
    decoded = unquote_to_bytes(raw_path).decode("latin-1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": decoded,
        "raw_path": raw_path.encode("latin-1"),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("198.51.100.7", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], start["headers"], body


@pytest.mark.parametrize("hostile", HOSTILE_REQUESTS)
async def test_hostile_input_never_breaks_a_response_or_a_stored_value(
    app: Any,
    anna: Setup,
    hostile: Hostile,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_route(app, anna.handle, source="x", target_url=EXTERNAL_TARGET)

    status, headers, body = await _raw_get(app, hostile.path, hostile.headers)

    assert status in {200, 302, 404}
    for name, value in headers:
        assert CONTROL.search(value.decode("latin-1")) is None, (name, value[:200])
        assert b"evil" not in value.lower(), (name, value[:200])
        assert len(value) <= 4096, name
    assert not {name.lower() for name, _ in headers} & {b"x-evil", b"set-cookie"}
    if status == 302:
        assert dict(headers)[b"location"] == EXTERNAL_TARGET.encode()
    assert b"\r\nX-Evil" not in body
    for record in caplog.records:
        assert "\r" not in record.getMessage()
        assert "\n" not in record.getMessage()

    for visit in await stored_visits(app):
        assert visit.source in {"instagram", "facebook", "x", "direct", "other"}
        for column in ("medium", "campaign", "content", "raw_source"):
            value = getattr(visit, column)
            assert value is None or len(value) <= MAX_VALUE_LENGTH, column
            assert value is None or CONTROL.search(value) is None, (column, value)
        assert visit.referrer_host is None or len(visit.referrer_host) <= MAX_HOST_LENGTH
        assert visit.referrer_host is None or CONTROL.search(visit.referrer_host) is None
        assert "1.2.3.4" not in repr([getattr(visit, c.key) for c in Visit.__table__.columns])


async def test_long_values_are_stored_cut_to_their_documented_length(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    long_host = ".".join(["a" * 60] * 6) + ".example"  # 374 characters, a valid host name
    # The one link reads the first 4 KiB of a query string; these values all fit in it.
    query = "&".join(
        f"{name}={'v' * 900}" for name in ("utm_medium", "utm_campaign", "utm_content")
    )
    response = await client.get(
        f"/@anna?src={'z' * 900}&{query}",
        headers={"Referer": f"https://{long_host}/path", "User-Agent": SAFARI_IPHONE},
    )

    assert response.status_code == 200
    [visit] = await stored_visits(app)
    assert visit.raw_source == "z" * MAX_VALUE_LENGTH
    assert visit.medium == visit.campaign == visit.content == "v" * MAX_VALUE_LENGTH
    assert visit.referrer_host is not None
    assert len(visit.referrer_host) <= MAX_HOST_LENGTH
    assert long_host.startswith(visit.referrer_host)
    assert visit.source == "other"


async def test_percent_encoded_crlf_in_query_is_stored_without_it(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    evil = quote("spring\r\nSet-Cookie: a=1\x00", safe="")
    response = await client.get(f"/@anna/ig?utm_campaign={evil}&utm_medium={evil}")

    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    [visit] = await stored_visits(app)
    assert visit.campaign == visit.medium == "springSet-Cookie: a=1"


# --- unique visitors and privacy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "uniques"),
    [
        pytest.param({"User-Agent": SAFARI_IPHONE}, {"User-Agent": SAFARI_IPHONE}, 1, id="same"),
        pytest.param({"User-Agent": SAFARI_IPHONE}, {"User-Agent": CHROME_DESKTOP}, 2, id="new-ua"),
        pytest.param(
            {"User-Agent": SAFARI_IPHONE},
            {"User-Agent": SAFARI_IPHONE, "X-Forwarded-For": "203.0.113.9"},
            1,
            id="spoofed-forwarded-for-from-untrusted-peer",
        ),
        pytest.param(
            {"User-Agent": SAFARI_IPHONE},
            {"User-Agent": SAFARI_IPHONE, "Referer": "https://t.co/abc"},
            1,
            id="same-visitor-other-referrer",
        ),
    ],
)
async def test_unique_visitors_per_day(
    client: httpx.AsyncClient,
    *,
    app: Any,
    anna: Setup,
    first: dict[str, str],
    second: dict[str, str],
    uniques: int,
) -> None:
    await client.get("/@anna/ig", headers=first)
    await client.get("/@anna/ig", headers=second)

    assert await stored_rollups(app) == {(anna.page_a.id, "instagram"): (2, uniques, 0)}
    hashes = {visit.visitor_hash for visit in await stored_visits(app)}
    assert len(hashes) == uniques


async def test_unique_visitors_are_counted_per_source_and_page(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    for path in ("/@anna/ig", "/@anna/ig", "/@anna/tt", "/p/gift-b", "/p/gift-b"):
        await client.get(path, headers={"User-Agent": SAFARI_IPHONE})

    assert await stored_rollups(app) == {
        (anna.page_a.id, "instagram"): (2, 1, 0),
        (anna.page_a.id, "tiktok"): (1, 1, 0),
        (anna.page_b.id, "direct"): (2, 1, 0),
    }


@pytest.fixture
async def far_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from a recognisable public address."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 40123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_no_raw_ip_is_stored(far_client: httpx.AsyncClient, app: Any, anna: Setup) -> None:
    await far_client.get("/@anna/ig", headers={"User-Agent": SAFARI_IPHONE})
    await far_client.get("/@anna/ig", headers={"User-Agent": "Twitterbot/1.0"})

    visits = await stored_visits(app)
    assert len(visits) == 2
    async with app_session(app) as session:
        ledger = (await session.execute(select(VisitorDay.__table__))).all()
    columns = [column.key for column in Visit.__table__.columns]
    stored = [str(getattr(visit, column)) for visit in visits for column in columns]
    stored += [str(value) for row in ledger for value in row]
    for value in stored:
        assert "203.0.113.77" not in value
        assert "203.0.113" not in value
    assert all(re.fullmatch(r"[0-9a-f]{32}", visit.visitor_hash) for visit in visits)


# --- /p/{slug} --------------------------------------------------------------------------------


async def test_page_by_slug_records_a_visit(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    response = await client.get(
        "/p/gift-b", headers={"User-Agent": IG_ANDROID, "Referer": "https://l.instagram.com/"}
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "Get gift B" in response.text
    [visit] = await stored_visits(app)
    assert (visit.kind, visit.handle_id, visit.page_id, visit.route_id) == (
        "visit",
        anna.handle.id,
        anna.page_b.id,
        None,
    )
    assert visit.source == "instagram"
    attribution = read_attribution(app.state.one_link.signer, attribution_token(response.text))
    assert attribution is not None
    assert attribution.visit_ref == visit.ref


async def test_own_pages_as_referrer_do_not_decide_the_source(
    client: httpx.AsyncClient, app: Any, anna: Setup
) -> None:
    base = app.state.settings.base_url
    await client.get("/p/gift-b", headers={"Referer": f"{base}/@anna", "User-Agent": SAFARI_IPHONE})

    [visit] = await stored_visits(app)
    assert (visit.source, visit.referrer_host) == ("direct", None)


# --- naming handles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("admin", "reserved"),
        ("API", "reserved"),
        ("@static", "reserved"),
        ("p", "reserved"),
        ("healthz", "reserved"),
        ("metrics", "reserved"),
        ("docs", "reserved"),
        ("favicon.ico", "reserved"),
        ("", "empty"),
        ("   ", "empty"),
        ("@", "empty"),
        ("a" * 31, "at most 30"),
        ("-anna", "starts and ends"),
        ("anna-", "starts and ends"),
        (".anna", "starts and ends"),
        ("an na", "letters a-z"),
        ("anna!", "letters a-z"),
        ("änna", "letters a-z"),
        ("an/na", "letters a-z"),
        ("an\nna", "letters a-z"),
        ("an\x00na", "letters a-z"),
        ("<script>", "letters a-z"),
    ],
)
async def test_bad_handle_names_are_refused_with_a_clear_message(
    session: AsyncSession, name: str, message: str
) -> None:
    with pytest.raises(InvalidHandle) as refused:
        await links.create_handle(session, name)
    assert message in refused.value.detail
    assert refused.value.errors[0].field == "handle"
    assert await session.scalar(select(Handle.id)) is None


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("anna", "anna"),
        ("Anna", "anna"),
        ("@anna", "anna"),
        (" anna ", "anna"),
        ("a", "a"),
        ("anna.b_c-d", "anna.b_c-d"),
        ("a" * 30, "a" * 30),
        ("admins", "admins"),
    ],
)
async def test_good_handle_names_are_normalised(
    session: AsyncSession, name: str, stored: str
) -> None:
    handle = await links.create_handle(session, name)
    assert handle.name == stored


async def test_a_handle_name_is_taken_once_whatever_its_case(session: AsyncSession) -> None:
    await links.create_handle(session, "anna")
    with pytest.raises(HandleTaken, match="already taken"):
        await links.create_handle(session, "@ANNA")


async def test_new_handle_answers_at_once(client: httpx.AsyncClient, app: Any) -> None:
    # A miss is cached too; after the routing changes, the new handle answers.
    assert (await client.get("/@newbie")).status_code == 404
    async with app_session(app) as session:
        handle = await links.create_handle(session, "newbie")
        page = await pages.create_page(session, handle, slug="newbie-gift", title="Hi")
        await pages.publish_page(session, page)
    app.state.one_link.resolver.invalidate()

    assert (await client.get("/@newbie")).status_code == 200


# --- hostile bytes on a real socket -----------------------------------------------------------

RAW_REQUESTS = [
    pytest.param(b"GET /@demo HTTP/1.1\r\nUser-Agent: a\rX-Evil: 1\r\n", id="cr-in-ua"),
    pytest.param(b"GET /@demo HTTP/1.1\r\nUser-Agent: a\nX-Evil: 1\r\n", id="lf-in-ua"),
    pytest.param(b"GET /@demo HTTP/1.1\r\nReferer: https://t.co/\x00X-Evil\r\n", id="nul-referer"),
    pytest.param(b"GET /@demo%0d%0aX-Evil:%201 HTTP/1.1\r\n", id="crlf-in-path"),
    pytest.param(b"GET /@demo/ig%0d%0aX-Evil:%201 HTTP/1.1\r\n", id="crlf-in-source"),
    pytest.param(b"GET /@demo?next=%0d%0aX-Evil:%201 HTTP/1.1\r\n", id="crlf-in-query"),
    pytest.param(b"GET /@demo?a=\r\nX-Evil: 1 HTTP/1.1\r\n", id="raw-crlf-in-query"),
    pytest.param(
        b"GET /@demo HTTP/1.1\r\nUser-Agent: " + b"x" * MEGABYTE + b"\r\n", id="megabyte-ua"
    ),
    pytest.param(
        b"GET /@demo HTTP/1.1\r\nReferer: https://" + b"r" * MEGABYTE + b".com/\r\n",
        id="megabyte-referer",
    ),
    pytest.param(b"GET /@demo?utm_campaign=" + b"c" * MEGABYTE + b" HTTP/1.1\r\n", id="mb-query"),
    pytest.param(b"GET /@" + b"a" * MEGABYTE + b" HTTP/1.1\r\n", id="megabyte-path"),
]


async def _migrate_and_seed_demo(database_url: str, data_dir: Path) -> None:
    engine = create_engine(make_settings(data_dir, database_url))
    try:
        await migrations.upgrade(engine)
        async with AsyncSession(engine) as session:
            handle = await links.create_handle(session, "demo")
            page = await pages.create_page(session, handle, slug="demo", title="Demo")
            await pages.publish_page(session, page)
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A real `leadlink serve` (SQLite, handle `demo`) and the file its log goes to."""
    data_dir = tmp_path_factory.mktemp("served")
    env = serve_env(data_dir, LEADLINK_LOG_FORMAT="json")
    asyncio.run(_migrate_and_seed_demo(env["LEADLINK_DATABASE_URL"], data_dir))
    with running_server(env, data_dir / "serve.log") as server:
        yield server.port, server.log


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("request_bytes", RAW_REQUESTS)
def test_hostile_bytes_on_the_wire_never_reach_a_header_or_a_log_line(
    served: tuple[int, Path], request_bytes: bytes
) -> None:
    port, log = served
    before = log.read_bytes().count(b"\n")

    response = _exchange(port, request_bytes)

    head, _, _ = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    status = int(status_line.split()[1])
    assert status < 500, response[:500]
    for line in header_lines:
        assert b"evil" not in line.lower(), line
        assert b"\x00" not in line
        assert b"\n" not in line
        assert b"\r" not in line
    assert len(head) < 8192
    # The server is still up, and every new log line is one JSON object.
    assert _exchange(port, b"GET /healthz HTTP/1.1\r\n").startswith(b"HTTP/1.1 200")
    # Once the line of that last request is in the log, so is every line before it.
    wait_until(
        lambda: b'"/healthz"' in b"".join(log.read_bytes().splitlines()[before:]),
        timeout=5,
        what="the /healthz request's log line",
    )
    for line in log.read_bytes().splitlines()[before:]:
        if line.startswith(b"{"):
            entry = json.loads(line)
            assert not CONTROL.search(entry["message"]), entry
            assert not CONTROL.search(entry.get("path", "")), entry


# --- routing changes reach visitors -----------------------------------------------------------


class SlowReadsDatabase(Database):
    """Reads whose session takes a while to close after its query (a slow round trip)."""

    reading = 0

    @contextlib.asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        self.reading += 1
        try:
            async with super().session(write=write) as session:
                yield session
                if not write:
                    await asyncio.sleep(0.3)
        finally:
            self.reading -= 1

    async def settle(self) -> None:
        """Wait for the reads in flight, so none outlives the engine."""
        for _ in range(100):
            await asyncio.sleep(0.05)  # a reload task just created has entered its session
            if not self.reading:
                return


async def test_a_routing_change_is_not_undone_by_a_reload_in_flight(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    """The creator adds a TikTok route while the cache is reloading the handle; the next TikTok
    visitor must get the new route, and it must not vanish again after the reload lands.
    """
    under_test, cleanup = await fresh_databases.open("sqlite", tmp_path)
    try:
        engine = under_test.engine
        async with AsyncSession(engine, expire_on_commit=False) as session:
            handle = await links.create_handle(session, "anna")
            for slug in ("gift-a", "gift-b"):
                page = await pages.create_page(session, handle, slug=slug, title=slug)
                await pages.publish_page(session, page)
            await session.commit()
        slow = SlowReadsDatabase(engine)
        resolver = LinkResolver(slow, ttl=0.0)  # every entry is stale at once
        first = await resolver.handle("anna")
        assert first is not None
        assert first.routes == ()

        assert await resolver.handle("anna") is first  # served stale; a reload starts
        await asyncio.sleep(0.1)  # the reload has read the old routing and is finishing
        async with AsyncSession(engine) as session:
            await links.add_route(session, handle, source="tiktok", page_slug="gift-b")
            await session.commit()
        resolver.invalidate()

        after_change = await resolver.handle("anna")
        await asyncio.sleep(0.5)  # every reload has landed
        later = await resolver.handle("anna")

        for snapshot in (after_change, later):
            assert snapshot is not None
            assert [route.source for route in snapshot.routes] == ["tiktok"]
        await slow.settle()
    finally:
        await cleanup()
