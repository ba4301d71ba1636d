"""`/admin/handles`: creating a handle, its default page and its routing rules, checked by what
`/@handle` then serves (the admin forgets the one link's caches at commit, as the API does)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.links.models import Route
from app.users.models import User
from tests.admin.admin_helpers import (
    assert_only_static_scripts,
    signed_in_token,
)
from tests.factories import add_handle, add_page

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


async def routes_of(session: AsyncSession, handle: Handle) -> list[Route]:
    query = select(Route).where(Route.handle_id == handle.id).order_by(Route.id)
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


async def anna_with_pages(session: AsyncSession) -> Handle:
    anna = await add_handle(session, "anna")
    gift_a = await add_page(session, anna, "gift-a", headline="Get gift A")
    await add_page(session, anna, "gift-b", headline="Get gift B")
    await add_page(session, anna, "gift-draft", headline="Draft", status="draft")
    anna.default_page_id = gift_a.id
    await session.commit()
    return anna


async def test_an_admin_creates_a_handle(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    token = await signed_in_token(client, "/admin/handles")
    listing = await client.get("/admin/handles")
    assert "Create a handle" in listing.text
    assert "There is no handle yet" in listing.text
    assert_only_static_scripts(listing.text)

    response = await client.post(
        "/admin/handles", data={"csrf_token": token, "name": "@Anna", "display_name": "Anna B"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/handles/anna"
    handle = await session.scalar(select(Handle).where(Handle.name == "anna"))
    assert handle is not None
    assert handle.display_name == "Anna B"
    page = await client.get("/admin/handles/anna")
    assert "<h1>@anna</h1>" in page.text
    assert "is ready" in page.text  # the flash
    assert "Create your first page" in page.text
    assert '/@anna" readonly' in page.text


async def test_a_bad_or_taken_handle_name_is_a_422_and_nothing_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await add_handle(session, "anna")
    await session.commit()
    token = await signed_in_token(client, "/admin/handles")
    for name, message in [
        ("", "must be 1 to 30 of a-z"),
        ("admin", "reserved"),
        ("-bad-", "must be 1 to 30 of a-z"),
        ("anna", "already taken"),
    ]:
        response = await client.post("/admin/handles", data={"csrf_token": token, "name": name})
        assert response.status_code == 422, name
        assert 'id="f-name" name="name" type="text"' in response.text
        assert re.search(r'id="f-name"[^>]*aria-invalid="true"', response.text), name
        assert "Nothing was saved" in response.text
        assert message.lower() in response.text.lower(), name
    names = (await session.scalars(select(Handle.name))).all()
    assert sorted(names) == ["anna"]


async def test_a_tiktok_rule_sends_tiktok_visitors_to_its_page(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna = await anna_with_pages(session)
    token = await signed_in_token(client, "/admin/handles/anna")
    saved = await client.post(
        "/admin/handles/anna/default-page", data={"csrf_token": token, "page": "gift-a"}
    )
    assert saved.status_code == 303
    before = await client.get("/@anna/tiktok", headers={"User-Agent": PHONE})
    assert "Get gift A" in before.text  # the default page, now cached by the one link

    response = await client.post(
        "/admin/handles/anna/routes",
        data={"csrf_token": token, "source": "tiktok", "page": "gift-b", "weight": "1"},
    )
    assert response.status_code == 303
    tiktok = await client.get("/@anna/tiktok", headers={"User-Agent": PHONE})
    instagram = await client.get("/@anna/ig", headers={"User-Agent": PHONE})
    assert tiktok.status_code == 200
    assert "Get gift B" in tiktok.text
    assert "Get gift A" in instagram.text
    (route,) = await routes_of(session, anna)
    assert (route.source, route.weight, route.variant) == ("tiktok", 1, "gift-b")
    page = (await client.get("/admin/handles/anna")).text
    assert "Rule added: visitors from tiktok go to gift-b." in page
    assert re.search(r'data-label="Visitors from">tiktok</th>', page)


async def test_an_external_url_rule_redirects_and_bad_urls_are_refused_like_the_api(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna = await anna_with_pages(session)
    token = await signed_in_token(client, "/admin/handles/anna")
    for data, field in [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://user:pw@shop.example.com/"}, "url"),
        ({"url": "https://shop.example.com/", "page": "gift-a"}, "page"),
        ({}, "page"),
        ({"page": "no-such-page"}, "page"),
        ({"page": "gift-a", "weight": "10001"}, "weight"),
        ({"page": "gift-a", "weight": "many"}, "weight"),
        ({"page": "gift-a", "source": "myspace"}, "source"),
        ({"page": "gift-a", "variant": "a b"}, "variant"),
    ]:
        response = await client.post(
            "/admin/handles/anna/routes", data={"csrf_token": token, **data}
        )
        assert response.status_code == 422, data
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', response.text), data
        assert "Nothing was saved" in response.text
    assert await routes_of(session, anna) == []

    added = await client.post(
        "/admin/handles/anna/routes",
        data={"csrf_token": token, "source": "youtube", "url": "https://shop.example.com/c?x=1"},
    )
    assert added.status_code == 303
    visit = await client.get("/@anna/yt", headers={"User-Agent": PHONE})
    assert visit.status_code == 302
    assert visit.headers["location"] == "https://shop.example.com/c?x=1"


async def test_weighted_variants_split_visitors_and_a_rule_can_be_removed(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna = await anna_with_pages(session)
    token = await signed_in_token(client, "/admin/handles/anna")
    for page, weight in (("gift-a", "50"), ("gift-b", "50")):
        response = await client.post(
            "/admin/handles/anna/routes",
            data={"csrf_token": token, "source": "", "page": page, "weight": weight},
        )
        assert response.status_code == 303
    shown = (await client.get("/admin/handles/anna")).text
    assert shown.count('data-label="Share" class="num">50.0%</td>') == 2

    agents = [f"{PHONE} visitor/{index}" for index in range(40)]
    served = [(await client.get("/@anna", headers={"User-Agent": ua})).text for ua in agents]
    saw_b = ["Get gift B" in html for html in served]
    assert any(saw_b)
    assert not all(saw_b)

    route_a, route_b = sorted(await routes_of(session, anna), key=lambda r: r.id)
    changed = await client.post(
        f"/admin/handles/anna/routes/{route_b.id}", data={"csrf_token": token, "weight": "0"}
    )
    assert changed.status_code == 303
    served = [(await client.get("/@anna", headers={"User-Agent": ua})).text for ua in agents]
    assert all("Get gift A" in html for html in served)

    bad = await client.post(
        f"/admin/handles/anna/routes/{route_b.id}", data={"csrf_token": token, "weight": "-1"}
    )
    assert bad.status_code == 422
    assert re.search(rf'id="weight-{route_b.id}"[^>]*aria-invalid="true"', bad.text)
    assert [r.weight for r in sorted(await routes_of(session, anna), key=lambda r: r.id)] == [
        50,
        0,
    ]

    removed = await client.post(
        f"/admin/handles/anna/routes/{route_a.id}/delete", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert [r.id for r in await routes_of(session, anna)] == [route_b.id]
    missing = await client.post(
        f"/admin/handles/anna/routes/{route_a.id}/delete", data={"csrf_token": token}
    )
    assert missing.status_code == 404


async def test_the_default_page_is_one_of_the_handles_pages(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna = await anna_with_pages(session)
    anna_id = anna.id
    bob = await add_handle(session, "bob")
    await add_page(session, bob, "bob-guide")
    await session.commit()
    token = await signed_in_token(client, "/admin/handles/anna")
    page = (await client.get("/admin/handles/anna")).text
    assert '<option value="gift-a"' in page
    assert '<option value="gift-draft"' in page  # in the rule form, marked as a draft
    default_form = page.split('action="/admin/handles/anna/default-page"')[1].split("</form>")[0]
    assert "gift-draft" not in default_form  # only published pages are offered as default

    response = await client.post(
        "/admin/handles/anna/default-page", data={"csrf_token": token, "page": "bob-guide"}
    )
    assert response.status_code == 422
    assert "has no page" in response.text
    session.expire_all()
    refreshed = await session.get(Handle, anna_id)
    assert refreshed is not None
    default_before = refreshed.default_page_id
    ok = await client.post(
        "/admin/handles/anna/default-page", data={"csrf_token": token, "page": "gift-b"}
    )
    assert ok.status_code == 303
    session.expire_all()
    refreshed = await session.get(Handle, anna_id)
    assert refreshed is not None
    assert refreshed.default_page_id != default_before
    assert "Get gift B" in (await client.get("/@anna", headers={"User-Agent": PHONE})).text
