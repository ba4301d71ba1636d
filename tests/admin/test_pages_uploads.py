"""The page editor's uploads and what reaches a lead: a gift file checked by its content and
delivered through the gift link, the page's own email wording in the outbox, and the
thank-you redirect after the opt-in."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.delivery.models import OutboxMessage
from app.handles.models import Handle
from app.pages.models import Page, StoredFile
from app.signing import Signer
from app.users.models import User
from tests.admin.admin_helpers import ClientFactory, signed_in_token
from tests.factories import add_handle

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(40)
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')
FORM = {
    "handle": "anna",
    "slug": "guide",
    "title": "The guide",
    "theme": "clean",
    "name_field": "optional",
    "gift_kind": "file",
    "gift_title": "The guide (PDF)",
    "double_opt_in": "yes",
}


@pytest.fixture
async def anna(session: AsyncSession, owner: User) -> Handle:
    handle = await add_handle(session, "anna")
    await session.commit()
    return handle


async def saved_pages(session: AsyncSession) -> list[Page]:
    session.expire_all()
    return list((await session.scalars(select(Page))).all())


async def stored_files(session: AsyncSession) -> set[str]:
    """The names of the uploaded files in the database (there is no other place for them)."""
    return set(await session.scalars(select(StoredFile.name)))


def files_on_disk(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name in {"gifts", "media"}]


async def opt_in(client: httpx.AsyncClient, app: Any, slug: str, email: str) -> httpx.Response:
    page = await client.get(f"/p/{slug}", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    found = TOKEN_FIELD.search(page.text)
    assert found is not None
    signer: Signer = app.state.one_link.signer
    values, _issued = signer.unsign_fields(found.group(1))
    token = signer.sign_fields(values, now=time.time() - 5)
    return await client.post(f"/p/{slug}", data={"a": token, "email": email, "name": "Fan"})


async def outbox(session: AsyncSession) -> list[dict[str, Any]]:
    session.expire_all()
    rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    return [row.payload for row in rows]


@pytest.mark.usefixtures("anna")
async def test_an_uploaded_pdf_gift_reaches_a_confirmed_lead(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    created = await client.post(
        "/admin/pages/new",
        data={**FORM, "gift_subject": "Your guide, {name}", "csrf_token": token},
        files={"gift_file": ("Calm Guide.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 303, created.text
    [page] = await saved_pages(session)
    assert (page.gift_kind, page.gift_file_name) == ("file", "Calm Guide.pdf")
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", page.gift_value)  # a generated name
    editor = await client.get(f"/admin/pages/{page.id}")
    assert "Current file: <strong>Calm Guide.pdf</strong>" in editor.text
    await client.post(f"/admin/pages/{page.id}/publish", data={"csrf_token": token})

    assert (await opt_in(client, app, "guide", "fan@example.com")).status_code == 303
    [confirmation] = await outbox(session)
    confirm = re.search(r"https?://[^/\s]+(/c/\S+)", confirmation["text"])
    assert confirm is not None
    assert (await client.get(confirm.group(1))).status_code == 200
    _, gift_email = await outbox(session)
    assert gift_email["subject"] == "Your guide, Fan"
    gift_link = re.search(r"https?://[^/\s]+(/g/\S+)", gift_email["text"])
    assert gift_link is not None
    download = await client.get(gift_link.group(1))
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert "Calm%20Guide.pdf" in download.headers["content-disposition"] or (
        "Calm Guide.pdf" in download.headers["content-disposition"]
    )


@pytest.mark.usefixtures("anna")
async def test_a_text_file_named_pdf_is_refused_and_nothing_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    response = await client.post(
        "/admin/pages/new",
        data={**FORM, "csrf_token": token},
        files={"gift_file": ("guide.pdf", b"just some text, not a PDF\n", "application/pdf")},
    )
    assert response.status_code == 422
    assert "is not a PDF, EPUB, ZIP" in response.text
    assert re.search(r'id="f-gift_file"[^>]*aria-invalid="true"', response.text)
    assert await saved_pages(session) == []
    assert await stored_files(session) == set()
    assert files_on_disk(tmp_path) == []


@pytest.mark.usefixtures("anna")
async def test_a_gift_over_the_limit_is_a_413_and_nothing_is_saved(
    make_client: ClientFactory, session: AsyncSession, tmp_path: Path
) -> None:
    async with make_client(max_gift_bytes=2048) as client:
        token = await signed_in_token(client, "/admin/pages/new")
        response = await client.post(
            "/admin/pages/new",
            data={**FORM, "csrf_token": token},
            files={"gift_file": ("big.pdf", PDF + bytes(4096), "application/pdf")},
        )
    assert response.status_code == 413
    assert "more than 2 KB" in response.text
    assert re.search(r'id="f-gift_file"[^>]*aria-invalid="true"', response.text)
    assert await saved_pages(session) == []
    assert await stored_files(session) == set()
    assert files_on_disk(tmp_path) == []


@pytest.mark.usefixtures("anna")
async def test_an_uploaded_hero_image_is_served_by_this_server(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    created = await client.post(
        "/admin/pages/new",
        data={**FORM, "gift_kind": "code", "gift_value": "HELLO", "csrf_token": token},
        files={"hero_image_file": ("me.png", PNG, "image/png")},
    )
    assert created.status_code == 303, created.text
    [page] = await saved_pages(session)
    assert page.hero_image_url is not None
    assert page.hero_image_url.startswith("/media/")
    image = await client.get(page.hero_image_url)
    assert (image.status_code, image.content) == (200, PNG)
    assert image.headers["content-type"] == "image/png"
    preview = await client.get(f"/admin/pages/{page.id}/preview")
    assert f'src="{page.hero_image_url}"' in preview.text


@pytest.mark.usefixtures("anna")
async def test_a_pdf_is_not_a_hero_image(client: httpx.AsyncClient, session: AsyncSession) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    response = await client.post(
        "/admin/pages/new",
        data={**FORM, "gift_kind": "code", "gift_value": "HELLO", "csrf_token": token},
        files={"hero_image_file": ("me.png", PDF, "image/png")},
    )
    assert response.status_code == 422
    assert re.search(r'id="f-hero_image_file"[^>]*aria-invalid="true"', response.text)
    assert await saved_pages(session) == []


@pytest.mark.usefixtures("anna")
async def test_the_pages_email_wording_and_thank_you_redirect_reach_the_visitor(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    created = await client.post(
        "/admin/pages/new",
        data={
            **FORM,
            "gift_kind": "code",
            "gift_value": "CALM20",
            "confirm_subject": "One click for {gift_title}",
            "confirm_text": "Hi from Anna!\n\nJust confirm below.",
            "thank_you_url": "https://shop.example.com/thanks",
            "csrf_token": token,
        },
    )
    assert created.status_code == 303, created.text
    [page] = await saved_pages(session)
    await client.post(f"/admin/pages/{page.id}/publish", data={"csrf_token": token})

    answer = await opt_in(client, app, "guide", "fan@example.com")
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://shop.example.com/thanks"
    [message] = await outbox(session)  # double opt-in still sends the confirmation
    assert message["subject"] == "One click for The guide (PDF)"
    assert "Hi from Anna!" in message["text"]
    assert "Hi from Anna!" in message["html"]
    assert "/c/" in message["text"]  # the links are added to the owner's text
    assert "/u/" in message["text"]


@pytest.mark.usefixtures("anna")
async def test_a_form_refused_after_its_gift_was_stored_keeps_no_file(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    # The gift is a fine PDF; the image is not an image: the whole form is refused.
    refused = await client.post(
        "/admin/pages/new",
        data={**FORM, "csrf_token": token},
        files={
            "gift_file": ("guide.pdf", PDF, "application/pdf"),
            "hero_image_file": ("me.png", PDF, "image/png"),
        },
    )
    assert refused.status_code == 422
    assert await saved_pages(session) == []
    assert await stored_files(session) == set()

    first = await client.post(
        "/admin/pages/new",
        data={**FORM, "csrf_token": token},
        files={"gift_file": ("guide.pdf", PDF, "application/pdf")},
    )
    assert first.status_code == 303
    [page] = await saved_pages(session)
    # The same slug again: refused once the file was stored, and the file goes too.
    taken = await client.post(
        "/admin/pages/new",
        data={**FORM, "csrf_token": token},
        files={"gift_file": ("other.pdf", PDF + b"%2", "application/pdf")},
    )
    assert taken.status_code == 422
    assert "already taken" in taken.text
    assert await stored_files(session) == {page.gift_value}


@pytest.mark.usefixtures("anna")
async def test_a_gift_replaced_in_the_editor_is_removed_and_the_new_one_downloads(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    token = await signed_in_token(client, "/admin/pages/new")
    await client.post(
        "/admin/pages/new",
        data={**FORM, "csrf_token": token},
        files={"gift_file": ("v1.pdf", PDF, "application/pdf")},
    )
    [page] = await saved_pages(session)
    page_id, old_name = page.id, page.gift_value
    await client.post(f"/admin/pages/{page_id}/publish", data={"csrf_token": token})
    assert (await opt_in(client, app, "guide", "fan@example.com")).status_code == 303
    [confirmation] = await outbox(session)
    confirm = re.search(r"https?://[^/\s]+(/c/\S+)", confirmation["text"])
    assert confirm is not None
    await client.get(confirm.group(1))
    _, gift_email = await outbox(session)
    gift_link = re.search(r"https?://[^/\s]+(/g/\S+)", gift_email["text"])
    assert gift_link is not None

    version_2 = PDF.replace(b"Catalog", b"Catalog /V2")
    saved = await client.post(
        f"/admin/pages/{page_id}",
        data={**FORM, "csrf_token": token},
        files={"gift_file": ("v2.pdf", version_2, "application/pdf")},
    )
    assert saved.status_code == 303, saved.text
    [page] = await saved_pages(session)
    assert page.gift_value != old_name
    assert await stored_files(session) == {page.gift_value}  # the old file is gone
    # The link in the lead's email gives the page's gift as it is now.
    download = await client.get(gift_link.group(1))
    assert (download.status_code, download.content) == (200, version_2)
    assert 'filename="v2.pdf"' in download.headers["content-disposition"]
