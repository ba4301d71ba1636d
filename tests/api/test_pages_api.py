"""`/api/v1/pages` as an owner's tool uses it: create a draft, change it, publish it, archive
it (its leads stay), with the service's rules, field-named errors, handle-restricted keys and
idempotent retries."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.pages.models import Page
from tests.factories import World, add_lead, bearer, issue_key

PAGES = "/api/v1/pages"
BASE_URL = "http://127.0.0.1:8000"

NEW_PAGE: dict[str, Any] = {
    "handle": "anna",
    "slug": "Free-Guide",
    "title": "The free guide",
    "headline": "Seven habits",
    "body": "# Hello\n\nGet the **guide**.",
    "gift_kind": "url",
    "gift_value": "https://files.example.com/guide.pdf",
    "gift_title": "The guide",
    "name_field": "required",
    "custom_fields": [
        {"key": "role", "label": "You are", "type": "select", "options": ["Creator", "Brand"]}
    ],
    "consent_text": "Send me the weekly letter.",
    "double_opt_in": False,
    "theme": "bold",
    "og_title": "Free guide",
    "og_description": "A free guide for creators.",
    "og_image_url": "https://img.example.com/card.jpg",
}


async def writer_key(session: AsyncSession, *handles: Handle) -> dict[str, str]:
    secret = await issue_key(session, ["pages:write"], handles)
    await session.commit()
    return bearer(secret)


async def test_create_change_publish_and_archive_a_page(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    created = await client.post(PAGES, json=NEW_PAGE, headers=headers)
    assert created.status_code == 201, created.text
    page = created.json()
    assert created.headers["location"] == f"{PAGES}/free-guide"
    assert page["slug"] == "free-guide"
    assert (page["handle"], page["handle_id"]) == ("anna", str(world.anna.id))
    assert page["status"] == "draft"
    assert page["url"] == f"{BASE_URL}/p/free-guide"
    assert (page["gift_kind"], page["gift_value"], page["gift_file_name"]) == (
        "url",
        "https://files.example.com/guide.pdf",
        None,
    )
    assert page["custom_fields"] == [
        {
            "key": "role",
            "label": "You are",
            "type": "select",
            "required": False,
            "options": ["Creator", "Brand"],
        }
    ]
    assert (page["theme"], page["double_opt_in"], page["consent_version"]) == ("bold", False, 1)
    assert page["published_at"] is None
    # A draft is not online yet.
    assert (await client.get("/p/free-guide")).status_code == 404

    shown = await client.get(f"{PAGES}/Free-Guide", headers=bearer(world.keys["read"]))
    assert shown.status_code == 200
    assert shown.json() == page

    changed = await client.patch(
        f"{PAGES}/free-guide",
        json={"headline": "Eight habits", "consent_text": "New wording", "og_image_url": None},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["headline"] == "Eight habits"
    assert changed.json()["consent_version"] == 2
    assert changed.json()["og_image_url"] is None
    assert changed.json()["title"] == "The free guide"

    published = await client.post(f"{PAGES}/free-guide/publish", headers=headers)
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    landing = await client.get("/p/free-guide")
    assert landing.status_code == 200
    assert "Eight habits" in landing.text

    archived = await client.post(f"{PAGES}/free-guide/archive", headers=headers)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    assert (await client.get("/p/free-guide")).status_code == 404
    listed = await client.get(
        PAGES, params={"handle": "anna", "status": "archived"}, headers=headers
    )
    assert [item["slug"] for item in listed.json()["items"]] == ["free-guide"]

    again = await client.post(f"{PAGES}/free-guide/publish", headers=headers)
    assert again.json()["status"] == "published"
    assert again.json()["published_at"] == published.json()["published_at"]
    assert (await client.get("/p/free-guide")).status_code == 200


async def test_archiving_a_page_keeps_its_leads(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    await add_lead(session, world.anna_page, "second@example.com")
    await session.commit()

    archived = await client.post(f"{PAGES}/anna-guide/archive", headers=headers)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"

    read = bearer(world.keys["read"])
    leads = await client.get("/api/v1/leads", params={"page": "anna-guide"}, headers=read)
    assert sorted(item["email"] for item in leads.json()["items"]) == [
        "fan@example.com",
        "second@example.com",
    ]
    lead = await client.get(f"/api/v1/leads/{world.anna_lead.id}", headers=read)
    assert lead.status_code == 200
    assert lead.json()["page"] == "anna-guide"
    assert await session.scalar(select(func.count()).select_from(Page)) == 2


async def test_pages_list_in_keyset_pages_with_filters(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    for number in range(3):
        body = {"handle": "bob", "slug": f"bob-{number}", "title": f"Bob {number}"}
        assert (await client.post(PAGES, json=body, headers=headers)).status_code == 201

    first = await client.get(PAGES, params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    assert [item["slug"] for item in first.json()["items"]] == ["anna-guide", "bob-guide"]
    link = first.headers["link"]
    second = await client.get(link[1 : link.index(">")], headers=headers)
    assert [item["slug"] for item in second.json()["items"]] == ["bob-0", "bob-1"]
    rest = await client.get(
        PAGES, params={"limit": 2, "cursor": second.json()["next_cursor"]}, headers=headers
    )
    assert [item["slug"] for item in rest.json()["items"]] == ["bob-2"]
    assert rest.json()["next_cursor"] is None
    assert "link" not in rest.headers

    drafts = await client.get(PAGES, params={"handle": "@Bob", "status": "draft"}, headers=headers)
    assert [item["slug"] for item in drafts.json()["items"]] == ["bob-0", "bob-1", "bob-2"]
    unknown = await client.get(PAGES, params={"handle": "nobody"}, headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "handle"
    bad = await client.get(PAGES, params={"status": "deleted"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"
    keys_cursor = (
        await client.get("/api/v1/keys", params={"limit": 1}, headers=bearer(world.keys["admin"]))
    ).json()["next_cursor"]
    wrong = await client.get(PAGES, params={"cursor": keys_cursor}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "cursor"


async def test_bad_pages_are_refused_with_the_field_named(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session)
    page = {"handle": "anna", "slug": "offer", "title": "Offer"}
    six_fields = [{"key": f"f{n}", "label": f"F{n}"} for n in range(6)]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"handle": "anna", "slug": "offer"}, 422, "title"),
        ({**page, "slug": "-offer"}, 422, "slug"),
        ({**page, "title": "Two\nlines"}, 422, "title"),
        ({**page, "gift_kind": "file", "gift_value": "a" * 32}, 422, "gift_kind"),
        ({**page, "gift_file_name": "guide.pdf"}, 422, "gift_file_name"),
        ({**page, "gift_kind": "url", "gift_value": "javascript:alert(1)"}, 422, "gift_value"),
        ({**page, "gift_kind": "code", "gift_value": ""}, 422, "gift_value"),
        ({**page, "hero_image_url": "http://img.example.com/a.jpg"}, 422, "hero_image_url"),
        ({**page, "custom_fields": six_fields}, 422, "custom_fields"),
        ({**page, "theme": "neon"}, 422, "theme"),
        ({**page, "body": "x" * 10_001}, 422, "body"),
        ({**page, "status": "published"}, 422, "status"),
        ({**page, "handle": "nobody"}, 404, "handle"),
        ({**page, "slug": "bob-guide"}, 409, "slug"),
    ]
    for body, status, field in cases:
        response = await client.post(PAGES, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]], (body, field)

    changes: list[tuple[dict[str, Any], int, str]] = [
        ({"slug": "bob-guide"}, 409, "slug"),
        ({"gift_kind": "url", "gift_value": "ftp://files.example.com/a"}, 422, "gift_value"),
        ({"status": "archived"}, 422, "status"),
        ({"og_title": "x" * 201}, 422, "og_title"),
    ]
    for body, status, field in changes:
        response = await client.patch(f"{PAGES}/anna-guide", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (body, field)
    missing = await client.patch(f"{PAGES}/no-such-page", json={"title": "X"}, headers=headers)
    assert missing.status_code == 404


async def test_file_gifts_are_kept_but_not_made_through_the_api(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    stored = "0123456789abcdef0123456789abcdef.pdf"
    world.anna_page.gift_kind = "file"
    world.anna_page.gift_value = stored
    world.anna_page.gift_file_name = "guide.pdf"
    await session.commit()
    headers = await writer_key(session)

    shown = (await client.get(f"{PAGES}/anna-guide", headers=headers)).json()
    assert (shown["gift_kind"], shown["gift_value"], shown["gift_file_name"]) == (
        "file",
        None,
        "guide.pdf",
    )
    assert stored not in str(shown)

    retitled = await client.patch(
        f"{PAGES}/anna-guide", json={"gift_title": "The PDF"}, headers=headers
    )
    assert retitled.status_code == 200
    assert retitled.json()["gift_kind"] == "file"
    elsewhere = await client.patch(
        f"{PAGES}/anna-guide", json={"gift_value": "f" * 32 + ".pdf"}, headers=headers
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "gift_value"
    await session.refresh(world.anna_page)
    assert world.anna_page.gift_value == stored

    replaced = await client.patch(
        f"{PAGES}/anna-guide", json={"gift_kind": "code", "gift_value": "CALM20"}, headers=headers
    )
    assert replaced.status_code == 200
    assert (replaced.json()["gift_kind"], replaced.json()["gift_value"]) == ("code", "CALM20")
    assert replaced.json()["gift_file_name"] is None


async def test_a_key_restricted_to_a_handle_sees_only_its_pages(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer_key(session, world.anna)
    listed = await client.get(PAGES, headers=headers)
    assert [item["slug"] for item in listed.json()["items"]] == ["anna-guide"]

    hidden = await client.get(f"{PAGES}/bob-guide", headers=headers)
    missing = await client.get(f"{PAGES}/no-such-page", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"]
    assert "bob-guide" not in str(listed.json())
    for method, url, body in [
        ("PATCH", f"{PAGES}/bob-guide", {"title": "Mine now"}),
        ("POST", f"{PAGES}/bob-guide/publish", None),
        ("POST", f"{PAGES}/bob-guide/archive", None),
    ]:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, (method, url)
    other = await client.post(
        PAGES, json={"handle": "bob", "slug": "sneaky", "title": "Sneaky"}, headers=headers
    )
    assert other.status_code == 404
    assert other.json()["errors"][0]["field"] == "handle"
    filtered = await client.get(PAGES, params={"handle": "bob"}, headers=headers)
    assert filtered.status_code == 404
    await session.refresh(world.bob_page)
    assert (world.bob_page.title, world.bob_page.status) == ("Page bob-guide", "published")

    own = await client.post(
        PAGES, json={"handle": "anna", "slug": "mine", "title": "Mine"}, headers=headers
    )
    assert own.status_code == 201


async def test_a_retried_create_makes_one_page(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = {**await writer_key(session), "Idempotency-Key": "page-1"}
    body = {"handle": "anna", "slug": "retry", "title": "Retry"}
    first = await client.post(PAGES, json=body, headers=headers)
    again = await client.post(PAGES, json={**body}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == f"{PAGES}/retry"
    count = select(func.count()).select_from(Page).where(Page.slug == "retry")
    assert await session.scalar(count) == 1

    different = await client.post(PAGES, json={**body, "title": "Other"}, headers=headers)
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "Idempotency-Key"

    archive = {**headers, "Idempotency-Key": "archive-1"}
    assert (await client.post(f"{PAGES}/retry/archive", headers=archive)).status_code == 200
    await client.post(f"{PAGES}/retry/publish", headers=headers | {"Idempotency-Key": "p-1"})
    replayed = await client.post(f"{PAGES}/retry/archive", headers=archive)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["status"] == "archived"


async def test_reading_pages_takes_pages_write_or_leads_read(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (await client.get(PAGES, headers=bearer(world.keys["read"]))).status_code == 200
    assert (await client.get(PAGES, headers=bearer(world.keys["write"]))).status_code == 403
    refused = await client.post(
        PAGES,
        json={"handle": "anna", "slug": "nope", "title": "Nope"},
        headers=bearer(world.keys["rw"]),
    )
    assert refused.status_code == 403
    assert "pages:write" in refused.json()["detail"]


async def test_pages_and_handles_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith(("/api/v1/pages", "/api/v1/handles"))
        for method, operation in item.items()
    ]
    assert len(operations) == 13
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["security"] == [{"ApiKey": []}], where
        assert operation.get("summary"), where
        for status in ("401", "403", "422"):
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], where
        if method in {"post", "patch", "delete"}:
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, where
            assert "404" in operation["responses"] or path.endswith("handles"), where
    schemas = spec["components"]["schemas"]
    for name in [
        "PageCreateRequest",
        "PageUpdateRequest",
        "PageRead",
        "PageList",
        "HandleCreate",
        "HandleUpdate",
        "HandleRead",
        "HandleList",
        "RouteCreate",
        "RouteRead",
    ]:
        assert schemas[name].get("examples"), name
    gift_kinds = schemas["PageCreateRequest"]["properties"]["gift_kind"]["anyOf"][0]["enum"]
    assert gift_kinds == ["url", "code", "text"]
