"""`/admin/pages`: the list, the editor's forms, publish, archive, duplicate and the preview, as
an owner sees them (status, visible text) and as the database keeps them."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.leads.models import Lead
from app.links.models import Visit
from app.pages.models import Page
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import (
    assert_only_static_scripts,
    csrf_from,
    sign_in,
    signed_in_token,
)
from tests.factories import add_handle, add_page

FORM = {
    "handle": "anna",
    "slug": "free-guide",
    "title": "The free guide",
    "headline": "Seven habits of calm creators",
    "body": "Get the **guide**.",
    "theme": "warm",
    "name_field": "optional",
    "gift_kind": "code",
    "gift_title": "20 % off",
    "gift_value": "CALM20",
    "consent_text": "Send me the weekly letter.",
    "double_opt_in": "yes",
    "cf0_key": "role",
    "cf0_label": "You are",
    "cf0_type": "select",
    "cf0_options": "Creator\nBrand",
}


@pytest.fixture
async def anna(session: AsyncSession, owner: User) -> Handle:
    handle = await add_handle(session, "anna")
    await session.commit()
    return handle


async def pages_in(session: AsyncSession) -> list[Page]:
    session.expire_all()
    return list((await session.scalars(select(Page).order_by(Page.id))).all())


async def create(client: httpx.AsyncClient, token: str, **changes: str) -> httpx.Response:
    return await client.post(
        "/admin/pages/new", data={**FORM, **changes, "csrf_token": token}, files={"x": ("", b"")}
    )


@pytest.mark.usefixtures("anna")
async def test_the_empty_list_says_what_to_do_next(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    response = await client.get("/admin/pages")
    assert response.status_code == 200
    assert "<h1>Pages</h1>" in response.text
    assert "Create your first page" in response.text
    assert 'href="/admin/pages/new"' in response.text
    assert_only_static_scripts(response.text)


@pytest.mark.usefixtures("anna")
async def test_a_page_is_created_edited_published_archived_and_duplicated_through_the_forms(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    created = await create(client, token)
    assert created.status_code == 303, created.text
    [page] = await pages_in(session)
    assert created.headers["location"] == f"/admin/pages/{page.id}"
    assert (page.slug, page.title, page.theme, page.status) == (
        "free-guide",
        "The free guide",
        "warm",
        "draft",
    )
    assert (page.gift_kind, page.gift_value) == ("code", "CALM20")
    assert page.custom_fields == [
        {"key": "role", "label": "You are", "type": "select", "required": False,
         "options": ["Creator", "Brand"]}
    ]  # fmt: skip
    editor = await client.get(created.headers["location"])
    assert editor.status_code == 200
    assert "created as a draft" in editor.text  # the flash notice
    assert 'value="The free guide"' in editor.text
    assert_only_static_scripts(editor.text)

    saved = await client.post(
        f"/admin/pages/{page.id}",
        data={**FORM, "title": "The calm guide", "thank_you_url": "https://shop.example.com/hi",
              "confirm_subject": "Please confirm, {name}", "csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 303
    [page] = await pages_in(session)
    assert page.title == "The calm guide"
    assert page.thank_you_url == "https://shop.example.com/hi"
    assert page.confirm_subject == "Please confirm, {name}"

    listed = await client.get("/admin/pages")
    assert "The calm guide" in listed.text
    assert "draft" in listed.text
    assert 'data-confirm="Archive' in listed.text
    assert_only_static_scripts(listed.text)

    published = await client.post(f"/admin/pages/{page.id}/publish", data={"csrf_token": token})
    assert published.status_code == 303
    assert "is online" in (await client.get("/admin/pages")).text
    assert (await client.get("/p/free-guide")).status_code == 200

    copied = await client.post(f"/admin/pages/{page.id}/duplicate", data={"csrf_token": token})
    assert copied.status_code == 303
    original, copy = await pages_in(session)
    assert copied.headers["location"] == f"/admin/pages/{copy.id}"
    assert (copy.slug, copy.status, copy.title) == ("free-guide-copy", "draft", "The calm guide")
    assert copy.handle_id == original.handle_id

    archived = await client.post(f"/admin/pages/{page.id}/archive", data={"csrf_token": token})
    assert archived.status_code == 303
    [page, _] = await pages_in(session)
    assert page.status == "archived"
    assert (await client.get("/p/free-guide")).status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "Not a slug!", "A slug has 1 to 64 characters"),
        ("thank_you_url", "http://shop.example.com/thanks", "must start with https://"),
        ("thank_you_url", "javascript:alert(1)", "Only http:// and https:// URLs"),
        ("thank_you_url", "https://192.168.1.10/thanks", "private or local IP address"),
        ("thank_you_url", "https://localhost/thanks", "public host name"),
        ("handle", "bob", "Choose one of your handles."),
    ],
)
async def test_bad_input_comes_back_with_the_field_named_and_nothing_saved(
    client: httpx.AsyncClient,
    session: AsyncSession,
    anna: Handle,
    *,
    field: str,
    value: str,
    message: str,
) -> None:
    await add_handle(session, "bob")  # a handle out of this owner's sight
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER,
        handle_ids=[anna.id],
    )  # fmt: skip
    await session.commit()
    assert (await sign_in(client, "anna@owners.example", "anna's long password")).status_code == 303
    token = csrf_from((await client.get("/admin/pages/new")).text)
    response = await create(client, token, **{field: value})
    assert response.status_code == 422
    assert message in response.text
    assert f'id="f-{field}"' in response.text
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', response.text)
    assert "Nothing was saved" in response.text
    assert await pages_in(session) == []


@pytest.mark.usefixtures("anna")
async def test_a_taken_slug_is_named_at_the_slug(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    assert (await create(client, token)).status_code == 303
    again = await create(client, token, title="Another")
    assert again.status_code == 422
    assert "already taken" in again.text
    assert len(await pages_in(session)) == 1


@pytest.mark.usefixtures("anna")
async def test_the_preview_renders_the_typed_values_and_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    response = await client.post(
        "/admin/pages/preview",
        data={**FORM, "title": "Typed, not saved", "headline": "A typed headline",
              "csrf_token": token},
    )  # fmt: skip
    assert response.status_code == 200
    assert "A typed headline" in response.text
    assert "Typed, not saved" in response.text
    # The admin may frame it; its form cannot send anything.
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert "<fieldset disabled>" in response.text
    assert 'method="post"' not in response.text
    assert await pages_in(session) == []
    leads = await session.scalar(select(func.count()).select_from(Lead))
    visits = await session.scalar(select(func.count()).select_from(Visit))
    assert (leads, visits) == (0, 0)


@pytest.mark.usefixtures("anna")
async def test_the_email_preview_shows_the_pages_own_wording_and_the_links(
    client: httpx.AsyncClient,
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    response = await client.post(
        "/admin/pages/emails/preview",
        data={**FORM, "confirm_subject": "One click, {gift_title}",
              "confirm_text": "Hello there!\n\nOne more step.", "csrf_token": token},
    )  # fmt: skip
    assert response.status_code == 200
    assert "One click, 20 % off" in response.text
    assert "Hello there!" in response.text
    assert "/c/sample-link" in response.text  # the confirm link, added
    assert "/u/sample-link" in response.text  # and unsubscribe


async def test_a_new_consent_text_shows_the_next_version_in_the_form(
    client: httpx.AsyncClient, session: AsyncSession, anna: Handle
) -> None:
    page = await add_page(session, anna, "letter", consent_text="Old words.", consent_version=1)
    await session.commit()
    token = await signed_in_token(client, "/admin/pages/new")
    assert "Current consent version: 1" in (await client.get(f"/admin/pages/{page.id}")).text
    saved = await client.post(
        f"/admin/pages/{page.id}",
        data={**FORM, "slug": "letter", "consent_text": "New words.", "csrf_token": token},
    )
    assert saved.status_code == 303
    editor = await client.get(f"/admin/pages/{page.id}")
    assert "Current consent version: 2" in editor.text
    assert "old leads keep theirs" in editor.text


async def test_another_owners_page_is_a_404_everywhere(
    client: httpx.AsyncClient, session: AsyncSession, anna: Handle
) -> None:
    bob = await add_handle(session, "bob")
    bobs = await add_page(session, bob, "bob-guide", title="Bob's guide")
    bob_id, bobs_id = bob.id, bobs.id
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER,
        handle_ids=[anna.id],
    )  # fmt: skip
    await session.commit()
    await sign_in(client, "anna@owners.example", "anna's long password")
    listed = await client.get("/admin/pages")
    assert "bob-guide" not in listed.text
    token = csrf_from(listed.text)
    assert (await client.get(f"/admin/pages/{bobs_id}")).status_code == 404
    for action in ("publish", "archive", "duplicate", "preview"):
        answer = await client.post(f"/admin/pages/{bobs_id}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404, action
    [page] = [p for p in await pages_in(session) if p.handle_id == bob_id]
    assert page.status == "published"
