"""`/admin/likes/upload`: the CLI's CSV, all or nothing, with every bad line named."""

from __future__ import annotations

from datetime import date

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.likes import MAX_CSV_BYTES
from app.handles.models import Handle
from app.reports.models import SocialMetric
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import sign_in
from tests.admin.likes_helpers import stored_days, upload

GOOD = """date,platform,likes,followers,impressions,comments,shares
2026-11-20,instagram,1200,5000,,,
2026-11-21,ig,"1,300",5040,30000,20,4
2026-11-21,tiktok,7,,,,
"""
TWO_BAD = """date,platform,likes,followers,impressions,comments,shares
2026-11-20,instagram,1200,5000,,,
2026-11-21,tiktok,lots,,,,
2026-11-22,instagram,5,,,,

2026-11-31,tiktok,5,,,,
"""


async def sign_in_as_annas_owner(client: httpx.AsyncClient, session: AsyncSession) -> None:
    anna = await session.scalar(select(Handle.id).where(Handle.name == "anna"))
    assert anna is not None
    password = "anna's long password"
    await users.create_user(
        session, "anna@owners.example", password, role=Role.OWNER, handle_ids=[anna]
    )
    await session.commit()
    await sign_in(client, "anna@owners.example", password)


async def test_a_good_csv_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    response = await upload(client, GOOD)
    assert response.status_code == 303
    assert await stored_days(session) == 3
    page = await client.get(response.headers["location"])
    assert "Imported 3 lines of numbers." in page.text
    stored = await session.scalar(
        select(SocialMetric.likes).where(
            SocialMetric.day == date(2026, 11, 21), SocialMetric.platform == "instagram"
        )
    )
    assert stored == 1300


async def test_two_bad_lines_are_both_named_and_nothing_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    response = await upload(client, TWO_BAD)
    assert response.status_code == 422
    assert "Nothing was saved:</strong> 2 lines are wrong." in response.text
    assert "line 3: likes must be a whole number of 0 or more, not &#39;lots&#39;" in response.text
    assert "line 6: date must be YYYY-MM-DD, not &#39;2026-11-31&#39;" in response.text
    assert await stored_days(session) == 0


async def test_the_page_documents_the_header(
    client: httpx.AsyncClient, owner: User, handles: None
) -> None:
    await sign_in(client)
    page = await client.get("/admin/likes")
    assert "date,platform,likes,followers,impressions,comments,shares" in page.text
    assert "All or nothing:" in page.text


async def test_a_handle_column_names_each_lines_handle_within_sight(
    client: httpx.AsyncClient, session: AsyncSession, handles: None
) -> None:
    await sign_in_as_annas_owner(client, session)
    text = "handle,date,platform,likes\nanna,2026-11-20,instagram,3\nbob,2026-11-20,tiktok,4\n"
    response = await upload(client, text)
    assert response.status_code == 422
    assert "line 3: no handle &#39;bob&#39;" in response.text
    assert await stored_days(session) == 0
    fixed = await upload(client, text.replace("bob,", "anna,"))
    assert fixed.status_code == 303
    assert await stored_days(session) == 2


async def test_the_upload_handle_must_be_in_sight(
    client: httpx.AsyncClient, session: AsyncSession, handles: None
) -> None:
    await sign_in_as_annas_owner(client, session)
    assert (await upload(client, GOOD, handle="bob")).status_code == 404
    assert await stored_days(session) == 0


async def test_a_file_over_the_limit_is_refused_with_413(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    line = "2026-11-20,instagram,1200,5000,,,\n"
    text = GOOD + line * (MAX_CSV_BYTES // len(line) + 10)
    response = await upload(client, text)
    assert response.status_code == 413
    assert await stored_days(session) == 0


async def test_a_file_that_is_not_text_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    response = await upload(client, b"\xff\xfe\x00PK\x03\x04")
    assert response.status_code == 422
    assert "not UTF-8" in response.text
