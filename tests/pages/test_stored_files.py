"""Uploaded files as a visitor and a lead get them: from the database, streamed with the headers a
file on disk had (type, length, ETag, caching, the download name), a 304 for a cached copy, one
byte range for a resumed download; a gift is never served as a public image; and a file an older
version left on this server's disk is still served, until `leadlink migrate` copies it in."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.handles.models import Handle
from app.leads.tokens import LeadLinks
from app.pages import files
from app.pages import service as pages
from app.pages.models import FileKind, Page, StoredFile
from tests.factories import add_handle, add_lead, add_page

# A 600 KB "PDF": three chunks, the last one short.
GIFT = b"%PDF-1.7\n" + bytes(range(256)) * 2400
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(40)


@pytest.fixture
async def handle(session: AsyncSession) -> Handle:
    return await add_handle(session, "anna")


async def gift_page(session: AsyncSession, handle: Handle, settings: Settings) -> Page:
    name = await pages.store_gift_file(session, settings, GIFT, "Calm Guide (v2).pdf")
    page = await add_page(
        session,
        handle,
        "guide",
        gift_kind="file",
        gift_value=name,
        gift_file_name="Calm Guide (v2).pdf",
    )
    await session.commit()
    return page


async def gift_path(app: Any, session: AsyncSession, page: Page) -> str:
    lead = await add_lead(session, page, "fan@example.com")
    await session.commit()
    links: LeadLinks = app.state.lead_links
    return links.gift(lead.id).removeprefix(links.base_url)


async def test_a_gift_download_streams_the_file_with_its_headers(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, handle: Handle, settings: Settings
) -> None:
    page = await gift_page(session, handle, settings)
    path = await gift_path(app, session, page)

    download = await client.get(path)
    assert download.status_code == 200
    assert download.content == GIFT
    etag = f'"{hashlib.sha256(GIFT).hexdigest()}"'
    assert download.headers["etag"] == etag
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-length"] == str(len(GIFT))
    assert download.headers["cache-control"] == "private, no-store"
    assert download.headers["accept-ranges"] == "bytes"
    assert download.headers["content-disposition"] == (
        "attachment; filename*=utf-8''Calm%20Guide%20%28v2%29.pdf"
    )

    # A resumed download: from the middle of the second chunk to the end.
    start = files.CHUNK_BYTES + 1000
    rest = await client.get(path, headers={"Range": f"bytes={start}-"})
    assert rest.status_code == 206
    assert rest.content == GIFT[start:]
    assert rest.headers["content-range"] == f"bytes {start}-{len(GIFT) - 1}/{len(GIFT)}"
    assert rest.headers["content-length"] == str(len(GIFT) - start)
    across = await client.get(path, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert (across.status_code, across.content) == (206, GIFT[10:20])
    tail = await client.get(path, headers={"Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, GIFT[-5:])
    changed = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert (changed.status_code, changed.content) == (200, GIFT)
    past = await client.get(path, headers={"Range": f"bytes={len(GIFT)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(GIFT)}"


async def test_an_image_is_cached_for_good_and_a_gift_is_not_an_image(
    client: httpx.AsyncClient, session: AsyncSession, handle: Handle, settings: Settings
) -> None:
    page = await gift_page(session, handle, settings)
    name = await _store_image(session)

    image = await client.get(f"/media/{name}")
    assert (image.status_code, image.content) == (200, PNG)
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-disposition" not in image.headers
    cached = await client.get(f"/media/{name}", headers={"If-None-Match": image.headers["etag"]})
    assert (cached.status_code, cached.content) == (304, b"")
    assert cached.headers["etag"] == image.headers["etag"]

    # The gift's stored name is no public address, even with an image's extension.
    assert (await client.get(f"/media/{page.gift_value}")).status_code == 404
    assert (await client.get("/media/" + "0" * 32 + ".png")).status_code == 404
    assert (await client.get("/media/..%2Fsecret_key")).status_code == 404


async def _store_image(session: AsyncSession) -> str:
    name = "a" * 32 + ".png"
    await files.save_file(session, name, FileKind.IMAGE, io.BytesIO(PNG), limit=10_000)
    await session.commit()
    return name


async def test_a_file_left_on_disk_by_an_older_version_is_served_then_copied_in(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, handle: Handle, settings: Settings
) -> None:
    name = "b" * 32 + ".pdf"
    (settings.data_dir / "gifts").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "gifts" / name).write_bytes(GIFT)
    image = "c" * 32 + ".png"
    (settings.data_dir / "media").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "media" / image).write_bytes(PNG)
    page = await add_page(
        session,
        handle,
        "old",
        gift_kind="file",
        gift_value=name,
        gift_file_name="old.pdf",
        hero_image_url=f"/media/{image}",
    )
    await session.commit()
    path = await gift_path(app, session, page)

    from_disk = await client.get(path)
    assert (from_disk.status_code, from_disk.content) == (200, GIFT)
    assert from_disk.headers["content-type"] == "application/pdf"
    assert 'filename="old.pdf"' in from_disk.headers["content-disposition"]
    assert (await client.get(f"/media/{image}")).content == PNG

    assert await files.import_files_from_disk(session, settings.data_dir) == 2
    await session.commit()
    assert await files.import_files_from_disk(session, settings.data_dir) == 0  # once
    rows = await session.execute(select(StoredFile.name, StoredFile.kind))
    assert {row.name: row.kind for row in rows} == {name: "gift", image: "image"}
    for folder in ("gifts", "media"):  # the database answers now, not the disk
        for leftover in (settings.data_dir / folder).iterdir():
            leftover.unlink()
    from_database = await client.get(path)
    assert (from_database.status_code, from_database.content) == (200, GIFT)
    assert from_database.headers["etag"] == f'"{hashlib.sha256(GIFT).hexdigest()}"'
    assert (await client.get(f"/media/{image}")).content == PNG


async def test_a_gift_file_missing_everywhere_is_a_404(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, handle: Handle
) -> None:
    page = await add_page(
        session,
        handle,
        "lost",
        gift_kind="file",
        gift_value="d" * 32 + ".pdf",
        gift_file_name="lost.pdf",
    )
    await session.commit()
    assert (await client.get(await gift_path(app, session, page))).status_code == 404


def test_a_stored_name_never_leaves_its_folder(tmp_path: Path) -> None:
    assert files.disk_path(tmp_path, "e" * 32 + ".pdf", FileKind.GIFT) == (
        tmp_path / "gifts" / ("e" * 32 + ".pdf")
    )
    assert files.disk_path(tmp_path, "e" * 32 + ".pdf", FileKind.IMAGE) is None
    assert files.disk_path(tmp_path, "../" + "e" * 32, FileKind.GIFT) is None
