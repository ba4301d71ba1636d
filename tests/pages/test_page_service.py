"""The page service: what an owner can save, what is refused with a field named, and gift files."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, load_settings
from app.errors import AppError
from app.handles.models import Handle
from app.links import service as links
from app.pages import files
from app.pages import service as pages
from app.pages.exceptions import GiftFileTooLarge, InvalidGiftFile, PageNotFound, SlugTaken
from app.pages.models import FileKind, StoredFile, StoredFileChunk
from app.pages.schemas import PageCreate, PageUpdate, field_errors


def create(**values: Any) -> PageCreate:
    return PageCreate.model_validate({"slug": "guide", "title": "Guide", **values})


def field_names(exc: AppError) -> set[str]:
    return {error.field for error in exc.errors}


def schema_errors(model: type[PageCreate] | type[PageUpdate], **values: Any) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    return field_names(field_errors(caught.value))


@pytest.fixture
async def handle(session: AsyncSession) -> Handle:
    return await links.create_handle(session, "anna")


async def test_create_page_with_everything(session: AsyncSession, handle: Handle) -> None:
    data = create(
        slug=" Free-Guide ",
        title=" The free guide ",
        headline="Seven habits",
        body="# Hello\n\nWorld",
        hero_image_url="https://img.example/hero.jpg",
        gift_kind="url",
        gift_value="https://course.example/start",
        gift_title="The course",
        name_field="required",
        custom_fields=[
            {"key": "role", "label": "Role", "type": "select", "options": ["A", "B"]},
            {"key": "tips", "label": "Tips", "type": "checkbox", "required": True},
        ],
        consent_text="Send me news",
        double_opt_in=False,
        theme="bold",
        og_title="OG title",
        og_description="OG text",
        og_image_url="https://img.example/card.jpg",
    )
    page = await pages.create_page(session, handle, data)

    assert (page.slug, page.title, page.status) == ("free-guide", "The free guide", "draft")
    assert (page.gift_kind, page.gift_value, page.gift_file_name) == (
        "url",
        "https://course.example/start",
        None,
    )
    assert page.custom_fields == [
        {
            "key": "role",
            "label": "Role",
            "type": "select",
            "required": False,
            "options": ["A", "B"],
        },
        {"key": "tips", "label": "Tips", "type": "checkbox", "required": True, "options": []},
    ]
    assert (page.theme, page.double_opt_in, page.consent_version) == ("bold", False, 1)
    assert handle.default_page_id == page.id
    assert await pages.get_page(session, "FREE-GUIDE") is page


async def test_keyword_form_still_creates_a_page_without_a_gift(
    session: AsyncSession, handle: Handle
) -> None:
    page = await pages.create_page(session, handle, slug="kw", title="Kw", headline="H", body="B")
    assert (page.slug, page.headline, page.body) == ("kw", "H", "B")
    assert (page.gift_kind, page.gift_value) == ("text", "")
    assert not pages.has_gift(page)
    with pytest.raises(AppError) as caught:
        await pages.create_page(session, handle, slug="Not a slug!", title="x")
    assert field_names(caught.value) == {"slug"}
    assert caught.value.status_code == 422


async def test_slugs_are_unique(session: AsyncSession, handle: Handle) -> None:
    await pages.create_page(session, handle, create())
    with pytest.raises(SlugTaken):
        await pages.create_page(session, handle, create(title="Again"))
    other = await pages.create_page(session, handle, create(slug="other"))
    with pytest.raises(SlugTaken):
        await pages.update_page(session, other, PageUpdate(slug="guide"))


@pytest.mark.parametrize(
    ("kind", "value", "file_name"),
    [
        ("url", "", None),
        ("url", "javascript:alert(1)", None),
        ("url", "//evil.example", None),
        ("url", "/relative", None),
        ("code", "", None),
        ("code", "TWO\nLINES", None),
        ("text", "", None),
        ("file", "", "guide.pdf"),
        ("file", "../../etc/passwd", "guide.pdf"),
    ],
)
async def test_each_gift_kind_needs_a_fitting_value(
    session: AsyncSession, handle: Handle, kind: str, value: str, file_name: str | None
) -> None:
    data = create(gift_kind=kind, gift_value=value, gift_file_name=file_name)
    with pytest.raises(AppError) as caught:
        await pages.create_page(session, handle, data)
    assert field_names(caught.value) == {"gift_value"}


async def test_a_file_gift_needs_a_safe_download_name(
    session: AsyncSession, handle: Handle
) -> None:
    stored = "0" * 32 + ".pdf"
    for bad_name in (None, "", "../x.pdf", "a/b.pdf", "a\\b.pdf", "x\r\n.pdf"):
        with pytest.raises(AppError) as caught:
            await pages.create_page(
                session,
                handle,
                create(gift_kind="file", gift_value=stored, gift_file_name=bad_name),
            )
        assert field_names(caught.value) == {"gift_file_name"}
    page = await pages.create_page(
        session, handle, create(gift_kind="file", gift_value=stored, gift_file_name="Guide.pdf")
    )
    assert (page.gift_value, page.gift_file_name) == (stored, "Guide.pdf")


def fields_of(*specs: dict[str, Any]) -> dict[str, Any]:
    return {"custom_fields": list(specs)}


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"slug": "-bad"}, {"slug"}),
        ({"slug": "a" * 65}, {"slug"}),
        ({"title": "  "}, {"title"}),
        ({"title": "two\nlines"}, {"title"}),
        ({"theme": "neon"}, {"theme"}),
        ({"name_field": "maybe"}, {"name_field"}),
        ({"gift_kind": "pdf"}, {"gift_kind"}),
        ({"body": "x" * 10_001}, {"body"}),
        ({"hero_image_url": "http://img.example/a.png"}, {"hero_image_url"}),
        ({"og_image_url": "javascript:alert(1)"}, {"og_image_url"}),
        ({"og_image_url": "https://u:p@img.example/a"}, {"og_image_url"}),
        ({"unknown": 1}, {"unknown"}),
        (fields_of({"key": "Bad Key", "label": "x"}), {"custom_fields.0.key"}),
        (fields_of({"key": "s", "label": "S", "type": "select"}), {"custom_fields.0"}),
        (fields_of({"key": "t", "label": "T", "options": ["a"]}), {"custom_fields.0"}),
        (fields_of({"key": "k", "label": "x", "type": "radio"}), {"custom_fields.0.type"}),
        (fields_of({"key": "k", "label": "a"}, {"key": "k", "label": "b"}), {"custom_fields"}),
        (fields_of(*({"key": f"k{i}", "label": "x"} for i in range(6))), {"custom_fields"}),
    ],
)
def test_bad_page_fields_are_named(values: dict[str, Any], fields: set[str]) -> None:
    assert schema_errors(PageCreate, **{"slug": "ok", "title": "x", **values}) == fields


def test_field_errors_make_one_readable_line() -> None:
    with pytest.raises(ValidationError) as caught:
        PageCreate.model_validate({"slug": "ok", "title": "", "theme": "neon"})
    error = field_errors(caught.value)
    assert error.status_code == 422
    assert error.detail == (
        "Invalid page: title: Cannot be empty.; theme: Input should be 'clean', 'bold' or 'warm'"
    )


async def test_update_changes_only_what_is_set_and_moves_updated_at(
    session: AsyncSession, handle: Handle
) -> None:
    page = await pages.create_page(
        session, handle, create(headline="Old", og_title="OG", hero_image_url="https://i.example/a")
    )
    before = page.updated_at
    await asyncio.sleep(0.002)
    await pages.update_page(
        session, page, PageUpdate.model_validate({"headline": "New", "og_title": None})
    )
    assert page.headline == "New"
    assert page.title == "Guide"
    assert page.og_title is None
    assert page.hero_image_url == "https://i.example/a"
    assert page.updated_at > before

    await pages.update_page(session, page, PageUpdate(hero_image_url=""))
    assert page.hero_image_url is None


async def test_a_new_consent_text_gets_the_next_version(
    session: AsyncSession, handle: Handle
) -> None:
    page = await pages.create_page(session, handle, create(consent_text="Send me news"))
    assert page.consent_version == 1
    await pages.update_page(session, page, PageUpdate(consent_text="Send me news"))
    assert page.consent_version == 1  # the same words are the same version
    await pages.update_page(session, page, PageUpdate(title="Renamed"))
    assert page.consent_version == 1
    await pages.update_page(session, page, PageUpdate(consent_text="Send me news and offers"))
    assert page.consent_version == 2
    await pages.update_page(session, page, PageUpdate(consent_text=""))
    assert page.consent_version == 3


async def test_update_checks_the_gift_against_what_the_page_has(
    session: AsyncSession, handle: Handle
) -> None:
    page = await pages.create_page(session, handle, create(gift_kind="text", gift_value="Hi"))
    with pytest.raises(AppError) as caught:
        await pages.update_page(session, page, PageUpdate(gift_kind="url"))  # "Hi" is no URL
    assert field_names(caught.value) == {"gift_value"}
    assert page.gift_kind == "text"
    await pages.update_page(session, page, PageUpdate(gift_value="Hello\r\nthere"))
    assert (page.gift_kind, page.gift_value) == ("text", "Hello\nthere")
    await pages.update_page(session, page, PageUpdate(gift_kind="code", gift_value="SAVE10"))
    assert (page.gift_kind, page.gift_value) == ("code", "SAVE10")


async def test_a_page_too_heavy_for_30_kb_is_refused_and_left_unchanged(
    session: AsyncSession, handle: Handle
) -> None:
    heavy = "漢字" * 5_000  # 10,000 characters, 30,000 bytes
    with pytest.raises(AppError) as caught:
        await pages.create_page(session, handle, create(body=heavy))
    assert field_names(caught.value) == {"body"}
    assert "30 KB" in caught.value.detail

    page = await pages.create_page(session, handle, create(body="Light"))
    with pytest.raises(AppError):
        await pages.update_page(session, page, PageUpdate(body=heavy, title="Heavy"))
    assert (page.body, page.title) == ("Light", "Guide")


async def test_publish_archive_get_and_list(session: AsyncSession, handle: Handle) -> None:
    other = await links.create_handle(session, "bob")
    first = await pages.create_page(session, handle, create(slug="one"))
    second = await pages.create_page(session, handle, create(slug="two"))
    theirs = await pages.create_page(session, other, create(slug="three"))

    await pages.publish_page(session, first)
    assert first.status == "published"
    assert first.published_at is not None
    assert await pages.get_published_page(session, "one") is first
    await pages.archive_page(session, first)
    assert first.status == "archived"
    with pytest.raises(PageNotFound):
        await pages.get_published_page(session, "one")
    assert await pages.get_page(session, "one") is first
    with pytest.raises(PageNotFound, match="'nope'"):
        await pages.get_page(session, "nope")

    assert [p.slug for p in await pages.list_pages(session, handle)] == ["one", "two"]
    listed = {p.slug for p in await pages.list_pages(session)}
    assert {first.slug, second.slug, theirs.slug} <= listed


# -- gift files ----------------------------------------------------------------------------------


@pytest.fixture
def files_settings(tmp_path: Path) -> Settings:
    """Settings whose data directory holds no file: gift files go to the database."""
    return load_settings(env="test", data_dir=tmp_path / "data", secret_key="s" * 48)


async def stored(session: AsyncSession) -> dict[str, bytes]:
    """Every stored file's name and its bytes, put together from its chunks."""
    files: dict[str, list[bytes]] = {}
    rows = await session.execute(
        select(StoredFileChunk.file_name, StoredFileChunk.data).order_by(
            StoredFileChunk.file_name, StoredFileChunk.seq
        )
    )
    for name, data in rows:
        files.setdefault(name, []).append(data)
    names = set(await session.scalars(select(StoredFile.name)))
    return {name: b"".join(files.get(name, [])) for name in names}


async def test_store_gift_file_from_a_path_and_from_bytes(
    session: AsyncSession, files_settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "The Guide.PDF"
    source.write_bytes(b"%PDF-1.7 guide")
    name = await pages.store_gift_file(session, files_settings, source, source.name)
    assert pages.STORED_NAME_PATTERN.fullmatch(name)
    assert name.endswith(".pdf")
    row = await session.get(StoredFile, name)
    assert row is not None
    assert (row.kind, row.content_type, row.size) == ("gift", "application/pdf", 14)
    assert row.sha256 == hashlib.sha256(b"%PDF-1.7 guide").hexdigest()

    again = await pages.store_gift_file(session, files_settings, b"same bytes", "notes")
    assert again != name
    assert "." not in again
    assert await stored(session) == {name: b"%PDF-1.7 guide", again: b"same bytes"}
    assert not files_settings.data_dir.exists()  # nothing on this server's disk


async def test_a_large_gift_file_is_stored_in_chunks_and_read_back_whole(
    session: AsyncSession, files_settings: Settings
) -> None:
    content = bytes(range(256)) * (3 * files.CHUNK_BYTES // 256) + b"tail"
    name = await pages.store_gift_file(session, files_settings, content, "big.zip")
    chunks = await session.scalar(
        select(func.count()).select_from(StoredFileChunk).where(StoredFileChunk.file_name == name)
    )
    assert chunks == 4
    assert (await stored(session))[name] == content


@pytest.mark.parametrize("name", ["", "..", "../x.pdf", "a/b.pdf", "a\\b.pdf", "x\x00.pdf", "n\n"])
async def test_store_gift_file_refuses_path_tricks_in_the_name(
    session: AsyncSession, files_settings: Settings, name: str
) -> None:
    with pytest.raises(InvalidGiftFile):
        await pages.store_gift_file(session, files_settings, b"x", name)
    assert await stored(session) == {}


async def test_store_gift_file_refuses_more_than_25_mb(
    session: AsyncSession, files_settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "big.zip"
    with big.open("wb") as handle:
        handle.truncate(pages.MAX_GIFT_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(GiftFileTooLarge) as caught:
        await pages.store_gift_file(session, files_settings, big, big.name)
    assert caught.value.status_code == 413
    with pytest.raises(GiftFileTooLarge):
        await pages.store_gift_file(
            session, files_settings, bytes(pages.MAX_GIFT_FILE_BYTES + 1), "big.zip"
        )
    assert await stored(session) == {}


async def test_a_stream_longer_than_announced_leaves_nothing_stored(
    session: AsyncSession, tmp_path: Path
) -> None:
    small = load_settings(env="test", data_dir=tmp_path, secret_key="s" * 48, max_gift_bytes=1024)
    with pytest.raises(GiftFileTooLarge):
        await pages.store_gift_file(session, small, io.BytesIO(bytes(5000)), "grew.zip")
    assert await stored(session) == {}


async def test_store_gift_file_refuses_what_is_not_a_readable_file(
    session: AsyncSession, files_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(InvalidGiftFile, match="not a file"):
        await pages.store_gift_file(session, files_settings, tmp_path, "folder")
    with pytest.raises(InvalidGiftFile):
        await pages.store_gift_file(session, files_settings, tmp_path / "missing.pdf", "m.pdf")


@pytest.mark.parametrize("name", ["../secret_key", "x" * 32, "0" * 32 + "/..", "/etc/passwd", ""])
def test_disk_paths_only_name_stored_files(files_settings: Settings, name: str) -> None:
    assert files.disk_path(files_settings.data_dir, name, FileKind.GIFT) is None
    assert files.disk_path(files_settings.data_dir, name, FileKind.IMAGE) is None


async def test_a_replaced_gift_file_is_removed_unless_another_page_uses_it(
    session: AsyncSession, handle: Handle, files_settings: Settings
) -> None:
    first = await pages.store_gift_file(session, files_settings, b"%PDF first", "first.pdf")
    page = await pages.create_page(
        session, handle, create(gift_kind="file", gift_value=first, gift_file_name="first.pdf")
    )
    copy = await pages.duplicate_page(session, page)  # shares the file

    second = await pages.store_gift_file(session, files_settings, b"%PDF second", "second.pdf")
    await pages.update_page(
        session, page, PageUpdate(gift_value=second, gift_file_name="second.pdf")
    )
    assert set(await stored(session)) == {first, second}  # the copy still gives `first`

    await pages.update_page(session, copy, PageUpdate(gift_kind="code", gift_value="SAVE10"))
    assert set(await stored(session)) == {second}  # no page uses `first` any more

    await pages.update_page(session, page, PageUpdate(gift_kind="text", gift_value="Thanks!"))
    assert await stored(session) == {}
