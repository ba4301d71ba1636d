"""Hostile names of uploaded gift files (cases.py `GIFT_FILE_NAMES`), through the page editor:
a name with a path, a control character or too many characters is refused (422 naming
`gift_file`) and leaves no file behind; a name that is taken is stored only as the name for
downloads (the file itself gets a random name) and comes back escaped in the editor and
percent-encoded in the download's Content-Disposition, never as a second parameter. Once, on
SQLite: files and names do not depend on the backend."""

from __future__ import annotations

import logging

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.pages.models import Page, StoredFile
from tests.hostile.cases import GIFT_FILE_NAMES
from tests.hostile.world import PDF, World, problems_in_log

EDITOR_FORM = {
    "title": "The guide",
    "slug": "guide",
    "theme": "clean",
    "name_field": "optional",
    "gift_title": "10% off",
}


BOUNDARY = "hostile-boundary"


def _multipart(fields: dict[str, str], filename: str) -> bytes:
    """The editor's form with the gift file, its name written as raw UTF-8 between quotes (as a
    hostile client would: a browser or httpx would percent-encode a quote, CR, LF or NUL)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="gift_file"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        + PDF
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def _stored_files(world: World) -> set[str]:
    """The names of the files stored in the database (uploads live there, not on disk)."""
    rows = await world.connection.execute(select(StoredFile.name))
    return set(rows.scalars())


@pytest.mark.parametrize("name", list(GIFT_FILE_NAMES))
async def test_a_gift_file_name_is_never_a_path(
    http_world: World, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = http_world
    caplog.set_level(logging.INFO)
    filename, status = GIFT_FILE_NAMES[name]
    problems = []
    savepoint = await world.connection.begin_nested()
    files_before = await _stored_files(world)
    try:
        world.client.cookies.clear()
        response = await world.client.post(
            world.fill("/admin/pages/{guide_page_id}"),
            headers={
                **world.admin_headers(),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            content=_multipart({**EDITOR_FORM, "csrf_token": world.csrf_token()}, filename),
        )
        page = await world.connection.execute(select(Page).where(Page.slug == "guide"))
        row = page.one()
        editor = await world.client.get(
            world.fill("/admin/pages/{guide_page_id}"), headers=world.admin_headers()
        )
        download = await world.client.get(world.fill("/g/{gift}"))
        added = await _stored_files(world) - files_before
    finally:
        await savepoint.rollback()
        world.forget_caches()
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    if status == 422:
        if 'id="f-gift_file-error"' not in response.text:
            problems.append("the refusal does not name gift_file")
        if added:
            problems.append(f"a refused upload left {sorted(added)}")
    else:
        if len(added) != 1 or not all(len(stored.split(".")[0]) == 32 for stored in added):
            problems.append(f"stored as {sorted(added)}")
        if row.gift_value not in added:
            problems.append(f"the page's file is {row.gift_value!r}")
        if row.gift_file_name != filename:
            problems.append(f"kept as {row.gift_file_name!r}")
        if "<" in filename and filename in editor.text:
            problems.append("the editor shows the name unescaped")
        if str(escape(filename)) not in editor.text:
            problems.append("the editor does not show the name")
        disposition = download.headers.get("content-disposition", "")
        if download.status_code != 200 or not disposition.startswith("attachment; filename"):
            problems.append(f"download {download.status_code} {disposition!r}")
        if len(disposition.split(";")) != 2 or '"' in disposition.split(";", 1)[1][12:]:
            problems.append(f"Content-Disposition {disposition!r}")
    problems += problems_in_log(caplog.records)
    assert not problems, f"{name}: " + "; ".join(problems)
