"""`/admin/likes`: a day's numbers typed into the form or uploaded as CSV, shown in the report."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import likes
from app.reports.models import SocialMetric
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.admin.test_report_page import table_rows
from tests.factories import DayNumbers, seed_handle, seed_numbers

DAY = date(2026, 10, 5)


@pytest.fixture
async def anna(session: AsyncSession) -> int:
    handle, page_id = await seed_handle(session, "anna")
    await seed_numbers(session, handle, page_id, [DayNumbers(DAY, "instagram", visits=50, leads=5)])
    await session.commit()
    return handle.id


async def stored(session: AsyncSession) -> list[tuple[object, ...]]:
    session.expire_all()
    rows = await session.execute(
        select(
            SocialMetric.day,
            SocialMetric.platform,
            SocialMetric.likes,
            SocialMetric.followers,
            SocialMetric.comments,
        ).order_by(SocialMetric.day, SocialMetric.platform)
    )
    return [tuple(row) for row in rows]


async def likes_page(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    response = await client.get("/admin/likes", params=params)
    assert response.status_code == 200, response.text
    return response


async def test_a_day_entered_in_the_form_shows_as_like_to_lead_in_the_report(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, anna: int
) -> None:
    await sign_in(client)
    page = await likes_page(client, handle="anna", date=DAY.isoformat())
    assert "<h1>Likes</h1>" in page.text
    assert 'for="f-instagram-likes"' in page.text
    assert_only_static_scripts(page.text)
    response = await client.post(
        "/admin/likes",
        data={
            "csrf_token": csrf_from(page.text),
            "handle": "anna",
            "date": DAY.isoformat(),
            "instagram-likes": "1,000",
            "instagram-followers": "",
            "tiktok-comments": "3",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/likes?handle=anna&date={DAY.isoformat()}"
    assert await stored(session) == [
        (DAY, "instagram", 1000, None, None),  # an empty box is unknown, not 0
        (DAY, "tiktok", None, None, 3),
    ]
    shown = await likes_page(client, handle="anna", date=DAY.isoformat())
    assert "Saved 2026-10-05 for @anna: 2 platforms." in shown.text
    assert (
        'name="instagram-likes" inputmode="numeric" autocomplete="off" value="1000"' in shown.text
    )

    report = await client.get(
        "/admin/report", params={"handle": "anna", "from": DAY.isoformat(), "to": DAY.isoformat()}
    )
    instagram = next(row for row in table_rows(report.text) if row[0] == "instagram")
    assert instagram[1] == "1,000"
    assert instagram[10] == "0.50%"  # 5 leads for 1,000 likes


async def test_saving_a_day_again_replaces_it(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, anna: int
) -> None:
    await sign_in(client)
    token = csrf_from((await likes_page(client)).text)
    first = {"instagram-likes": "10", "instagram-followers": "99", "tiktok-likes": "4"}
    for numbers in (first, {"instagram-likes": "12"}):
        response = await client.post(
            "/admin/likes",
            data={"csrf_token": token, "handle": "anna", "date": DAY.isoformat(), **numbers},
        )
        assert response.status_code == 303
    # Followers cleared and tiktok left empty: both unknown now.
    assert await stored(session) == [(DAY, "instagram", 12, None, None)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("instagram-likes", "-3", "instagram: likes must be a whole number of 0 or more"),
        ("tiktok-shares", "lots", "tiktok: shares must be a whole number of 0 or more"),
        ("date", "2026-02-30", "Date must be YYYY-MM-DD"),
    ],
)
async def test_a_bad_number_is_named_and_nothing_is_saved(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    owner: User,
    anna: int,
    field: str,
    value: str,
    message: str,
) -> None:
    await sign_in(client)
    token = csrf_from((await likes_page(client)).text)
    form = {"csrf_token": token, "handle": "anna", "date": DAY.isoformat(), "youtube-likes": "7"}
    response = await client.post("/admin/likes", data={**form, field: value})
    assert response.status_code == 422
    assert "Nothing was saved." in response.text
    assert message in response.text
    assert f'id="f-{field}"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert await stored(session) == []


async def test_the_recent_table_shows_the_last_30_days_newest_first(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, anna: int
) -> None:
    today = date.today()
    session.add_all(
        [
            SocialMetric(handle_id=anna, platform="instagram", day=today, likes=5),
            SocialMetric(handle_id=anna, platform="tiktok", day=today - timedelta(days=3), likes=9),
            SocialMetric(
                handle_id=anna, platform="tiktok", day=today - timedelta(days=40), likes=1
            ),
        ]
    )
    await session.commit()
    await sign_in(client)
    page = await likes_page(client)
    rows = table_rows(page.text.split('id="recent"')[1])
    assert [row[:3] for row in rows[1:]] == [
        [today.isoformat(), "instagram", "5"],
        [(today - timedelta(days=3)).isoformat(), "tiktok", "9"],
    ]


async def test_an_owner_without_numbers_is_told_what_to_do(
    client: httpx.AsyncClient, owner: User, anna: int
) -> None:
    await sign_in(client)
    page = await likes_page(client)
    assert "No numbers for @anna in the last 30 days." in page.text


async def test_without_a_handle_the_page_says_to_create_one(
    client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    page = await likes_page(client)
    assert "Create a handle" in page.text


async def test_another_owners_handle_is_missing(
    client: httpx.AsyncClient, session: AsyncSession, anna: int
) -> None:
    await seed_handle(session, "bob")
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER, handle_ids=[anna]
    )
    await session.commit()
    await sign_in(client, "anna@owners.example", "anna's long password")
    assert (await client.get("/admin/likes", params={"handle": "bob"})).status_code == 404
    page = await likes_page(client)
    assert "@bob" not in page.text
    response = await client.post(
        "/admin/likes",
        data={
            "csrf_token": csrf_from(page.text),
            "handle": "bob",
            "date": DAY.isoformat(),
            "instagram-likes": "5",
        },
    )
    assert response.status_code == 404
    assert await stored(session) == []


def test_the_form_has_a_row_per_platform_with_likes() -> None:
    assert "instagram" in likes.PLATFORMS
    assert "direct" not in likes.PLATFORMS
