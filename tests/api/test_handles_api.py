"""`/api/v1/handles`: create handles, point them at pages and URLs, split visitors between
variants, and see each change on `/@handle` at once; field-named errors, handle-restricted keys
and idempotent retries."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.links.models import Route
from tests.factories import World, bearer, issue_key

HANDLES = "/api/v1/handles"
PAGES = "/api/v1/pages"
BASE_URL = "http://127.0.0.1:8000"
SHOP = "https://shop.example.com/course?ref=bio"


async def writer_key(session: AsyncSession, *handles: Handle) -> dict[str, str]:
    secret = await issue_key(session, ["pages:write"], handles)
    await session.commit()
    return bearer(secret)


async def published_page(
    client: httpx.AsyncClient, headers: dict[str, str], handle: str, slug: str, headline: str
) -> None:
    body = {"handle": handle, "slug": slug, "title": slug, "headline": headline}
    assert (await client.post(PAGES, json=body, headers=headers)).status_code == 201
    assert (await client.post(f"{PAGES}/{slug}/publish", headers=headers)).status_code == 200


async def test_create_show_and_change_a_handle(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    created = await client.post(
        HANDLES, json={"name": "@Carla.Art", "display_name": "Carla"}, headers=headers
    )
    assert created.status_code == 201, created.text
    handle = created.json()
    assert created.headers["location"] == f"{HANDLES}/carla.art"
    assert handle["name"] == "carla.art"
    assert handle["display_name"] == "Carla"
    assert handle["url"] == f"{BASE_URL}/@carla.art"
    assert (handle["default_page"], handle["default_page_id"], handle["routes"]) == (None, None, [])

    await published_page(client, headers, "carla.art", "carla-first", "First")
    await published_page(client, headers, "carla.art", "carla-second", "Second")
    shown = await client.get(f"{HANDLES}/@Carla.Art", headers=bearer(world.keys["read"]))
    assert shown.status_code == 200
    assert shown.json()["default_page"] == "carla-first"  # a handle's first page

    changed = await client.patch(
        f"{HANDLES}/carla.art",
        json={"display_name": "Carla Art", "default_page": "carla-second"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Carla Art"
    assert changed.json()["default_page"] == "carla-second"
    assert "Second" in (await client.get("/@carla.art")).text

    listed = await client.get(HANDLES, params={"limit": 2}, headers=headers)
    assert [item["name"] for item in listed.json()["items"]] == ["anna", "bob"]
    rest = await client.get(
        HANDLES, params={"cursor": listed.json()["next_cursor"]}, headers=headers
    )
    assert [item["name"] for item in rest.json()["items"]] == ["carla.art"]
    assert rest.json()["next_cursor"] is None


async def test_bad_handles_are_refused_with_the_field_named(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "admin"}, 422, "name"),
        ({"name": "API"}, 422, "name"),
        ({"name": "two words"}, 422, "name"),
        ({"name": "-dash"}, 422, "name"),
        ({"name": ""}, 422, "name"),
        ({"name": "x" * 31}, 422, "name"),
        ({}, 422, "name"),
        ({"name": "ok", "display_name": "two\nlines"}, 422, "display_name"),
        ({"name": "ok", "display_name": "x" * 101}, 422, "display_name"),
        ({"name": "ok", "rename": "x"}, 422, "rename"),
        ({"name": "@Anna"}, 409, "name"),
    ]
    for body, status, field in cases:
        response = await client.post(HANDLES, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]], (body, field)
    assert await session.scalar(select(func.count()).select_from(Handle)) == 2

    changes: list[tuple[dict[str, Any], int, str]] = [
        ({"default_page": "bob-guide"}, 422, "default_page"),
        ({"default_page": "no-such-page"}, 422, "default_page"),
        ({"name": "anna2"}, 422, "name"),
    ]
    for body, status, field in changes:
        response = await client.patch(f"{HANDLES}/anna", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (body, field)
    assert (await client.get(f"{HANDLES}/nobody", headers=headers)).status_code == 404


async def test_routes_take_effect_on_the_one_link_at_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    await published_page(client, headers, "anna", "gift-a", "Get gift A")
    await published_page(client, headers, "anna", "gift-b", "Get gift B")
    default = await client.patch(
        f"{HANDLES}/anna", json={"default_page": "gift-a"}, headers=headers
    )
    assert default.status_code == 200
    # The one link has now cached anna's routing: every change below must replace it.
    assert "Get gift A" in (await client.get("/@anna/tiktok")).text

    tiktok = await client.post(
        f"{HANDLES}/anna/routes", json={"source": "tiktok", "page": "gift-b"}, headers=headers
    )
    assert tiktok.status_code == 201, tiktok.text
    route = tiktok.json()
    assert (route["source"], route["page"], route["url"], route["weight"]) == (
        "tiktok",
        "gift-b",
        None,
        1,
    )
    assert route["variant"] == "gift-b"
    assert tiktok.headers["location"] == f"{HANDLES}/anna/routes/{route['id']}"
    shown_route = await client.get(tiktok.headers["location"], headers=headers)
    assert shown_route.json() == route
    assert "Get gift B" in (await client.get("/@anna/tiktok")).text
    assert "Get gift A" in (await client.get("/@anna/ig")).text

    youtube = await client.post(
        f"{HANDLES}/anna/routes", json={"source": "youtube", "url": SHOP}, headers=headers
    )
    assert youtube.status_code == 201
    redirect = await client.get("/@anna/yt")
    assert (redirect.status_code, redirect.headers["location"]) == (302, SHOP)

    for variant, page, weight in [("A", "gift-a", 0), ("B", "gift-b", 3)]:
        added = await client.post(
            f"{HANDLES}/anna/routes",
            json={"source": "instagram", "page": page, "weight": weight, "variant": variant},
            headers=headers,
        )
        assert added.status_code == 201
    assert "Get gift B" in (await client.get("/@anna/ig")).text  # variant A is paused

    shown = (await client.get(f"{HANDLES}/anna", headers=bearer(world.keys["read"]))).json()
    assert shown["default_page"] == "gift-a"
    assert [
        (r["source"], r["variant"], r["weight"], r["page"], r["url"]) for r in shown["routes"]
    ] == [
        ("tiktok", "gift-b", 1, "gift-b", None),
        ("youtube", "external", 1, None, SHOP),
        ("instagram", "A", 0, "gift-a", None),
        ("instagram", "B", 3, "gift-b", None),
    ]

    # An archived page's routes are skipped: its visitors get the default page.
    assert (await client.post(f"{PAGES}/gift-b/archive", headers=headers)).status_code == 200
    assert "Get gift A" in (await client.get("/@anna/tiktok")).text

    removed = await client.delete(f"{HANDLES}/anna/routes/{youtube.json()['id']}", headers=headers)
    assert removed.status_code == 204
    assert "Get gift A" in (await client.get("/@anna/yt")).text
    again = await client.delete(f"{HANDLES}/anna/routes/{youtube.json()['id']}", headers=headers)
    assert again.status_code == 404
    assert (await client.delete(f"{HANDLES}/anna/routes/abc", headers=headers)).status_code == 404


async def test_bad_routes_are_refused_with_the_field_named(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"page": "anna-guide", "url": SHOP}, {"page", "url"}),
        ({"source": "tiktok"}, {"page", "url"}),
        ({"source": "myspace", "page": "anna-guide"}, {"source"}),
        ({"page": "bob-guide"}, {"page"}),
        ({"page": "no-such-page"}, {"page"}),
        ({"url": "javascript:alert(1)"}, {"url"}),
        ({"url": "//evil.example.com"}, {"url"}),
        ({"page": "anna-guide", "weight": 10_001}, {"weight"}),
        ({"page": "anna-guide", "weight": -1}, {"weight"}),
        ({"page": "anna-guide", "variant": "has space"}, {"variant"}),
    ]
    for body, fields in cases:
        response = await client.post(f"{HANDLES}/anna/routes", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert {error["field"] for error in response.json()["errors"]} == fields, body
    assert await session.scalar(select(func.count()).select_from(Route)) == 0


async def test_a_key_restricted_to_a_handle_manages_only_that_handle(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session, world.anna)
    listed = await client.get(HANDLES, headers=headers)
    assert [item["name"] for item in listed.json()["items"]] == ["anna"]

    hidden = await client.get(f"{HANDLES}/bob", headers=headers)
    missing = await client.get(f"{HANDLES}/nobody", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"]
    bob_route = await client.post(
        f"{HANDLES}/bob/routes", json={"page": "bob-guide"}, headers=await writer_key(session)
    )
    assert bob_route.status_code == 201
    route_url = f"{HANDLES}/bob/routes/{bob_route.json()['id']}"
    for method, url, body in [
        ("PATCH", f"{HANDLES}/bob", {"display_name": "Mine"}),
        ("POST", f"{HANDLES}/bob/routes", {"page": "bob-guide"}),
        ("GET", route_url, None),
        ("DELETE", route_url, None),
        # Another handle's route through one's own handle is not there either.
        ("GET", f"{HANDLES}/anna/routes/{bob_route.json()['id']}", None),
        ("DELETE", f"{HANDLES}/anna/routes/{bob_route.json()['id']}", None),
    ]:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, (method, url, response.text)
    assert await session.scalar(select(func.count()).select_from(Route)) == 1

    refused = await client.post(HANDLES, json={"name": "newbie"}, headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    changed = await client.patch(f"{HANDLES}/anna", json={"display_name": "Anna"}, headers=headers)
    assert changed.status_code == 200


async def test_retried_writes_happen_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    create = {**headers, "Idempotency-Key": "handle-1"}
    first = await client.post(HANDLES, json={"name": "dora"}, headers=create)
    again = await client.post(HANDLES, json={"name": "dora"}, headers=create)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(HANDLES, json={"name": "eve"}, headers=create)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"

    route = {**headers, "Idempotency-Key": "route-1"}
    body = {"source": "tiktok", "page": "anna-guide"}
    one = await client.post(f"{HANDLES}/anna/routes", json=body, headers=route)
    two = await client.post(f"{HANDLES}/anna/routes", json=body, headers=route)
    assert one.json()["id"] == two.json()["id"]
    assert await session.scalar(select(func.count()).select_from(Route)) == 1


async def test_handles_are_neither_renamed_nor_deleted(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    response = await client.delete(f"{HANDLES}/anna", headers=headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"
    routes = await client.options(f"{HANDLES}/anna/routes")
    assert routes.headers["allow"] == "POST"
    assert (await client.get(f"{HANDLES}/anna", headers=headers)).status_code == 200
