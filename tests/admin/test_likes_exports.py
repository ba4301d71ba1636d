"""`/admin/likes/upload` with the platforms' own exports, uploaded as downloaded: recognised,
stored on the chosen handle, idempotent, and all or nothing with every problem named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.likes import MAX_CSV_BYTES
from app.handles.models import Handle
from app.reports.models import SocialMetric
from app.users.models import User
from tests.admin.admin_helpers import sign_in
from tests.admin.likes_helpers import stored_days, upload

EXPORTS = Path(__file__).parent.parent / "reports" / "exports"


def fixture(name: str) -> bytes:
    return (EXPORTS / name).read_bytes()


async def stored(session: AsyncSession) -> dict[tuple[str, str, date], tuple[int | None, ...]]:
    rows = await session.execute(
        select(
            Handle.name,
            SocialMetric.platform,
            SocialMetric.day,
            SocialMetric.likes,
            SocialMetric.followers,
            SocialMetric.impressions,
            SocialMetric.comments,
            SocialMetric.shares,
        ).join(Handle, Handle.id == SocialMetric.handle_id)
    )
    session.expire_all()
    return {(h, p, d): tuple(numbers) for h, p, d, *numbers in rows.all()}


async def test_a_youtube_studio_export_is_stored_on_the_chosen_handle(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)

    response = await upload(client, fixture("youtube_studio_table_data.csv"), handle="bob")

    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert (
        "Imported 7 days of youtube numbers for @bob (2026-11-01 to 2026-11-07) from a "
        "YouTube Studio (Advanced mode, Table data by Date) export." in page.text
    )
    rows = await stored(session)
    assert len(rows) == 7
    # likes, followers (unknown: YouTube's Subscribers are a daily change), impressions,
    # comments, shares
    assert rows["bob", "youtube", date(2026, 11, 3)] == (171, None, 29544, 12, 8)


async def test_uploading_again_replaces_the_same_days_and_keeps_other_numbers(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    overview = fixture("tiktok_overview.csv")
    assert (await upload(client, overview, name="Overview.csv")).status_code == 303
    assert (await upload(client, overview, name="Overview.csv")).status_code == 303
    assert await stored_days(session) == 7

    followers = fixture("tiktok_follower_history.csv")
    assert (await upload(client, followers, name="FollowerHistory.csv")).status_code == 303
    corrected = overview.replace(
        b'"November 28","13639","97","124"', b'"November 28","13639","97","125"'
    )
    assert (await upload(client, corrected, name="Overview.csv")).status_code == 303

    rows = await stored(session)
    assert len(rows) == 7
    [(day, numbers)] = [(d, n) for (_h, _p, d), n in rows.items() if (d.month, d.day) == (11, 28)]
    assert numbers == (125, 10575, 13639, 2, 1)
    assert day <= date.today()


async def test_a_meta_export_is_refused_until_its_platform_is_chosen(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    views = fixture("meta_views.csv")

    refused = await upload(client, views, name="Views.csv")
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text
    assert "line 2: this Meta Business Suite export (&#39;Views&#39;) does not say which" in (
        refused.text
    )
    assert await stored_days(session) == 0

    saved = await upload(client, views, export_format="meta-instagram", name="Views.csv")
    assert saved.status_code == 303
    rows = await stored(session)
    assert rows["anna", "instagram", date(2026, 11, 4)] == (None, None, 10072, None, None)


async def test_a_metric_leadlink_does_not_keep_is_refused_with_the_reason(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)

    response = await upload(client, fixture("meta_facebook_follows.csv"))

    assert response.status_code == 422
    assert "new follows per day" in response.text
    assert await stored_days(session) == 0


async def test_a_formula_cell_refuses_the_whole_file(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    text = fixture("youtube_studio_table_data.csv").replace(
        b"2026-11-04,1932,94.0021,4,156", b"2026-11-04,1932,94.0021,4,\"=cmd|' /C calc'!A0\""
    )

    response = await upload(client, text)

    assert response.status_code == 422
    assert "Nothing was saved:</strong> 1 line is wrong." in response.text
    assert "line 6: column &#39;Likes&#39;:" in response.text
    assert "looks like a spreadsheet formula" in response.text
    assert await stored_days(session) == 0  # the six good days are not kept either


async def test_a_file_leadlink_does_not_recognise_is_a_422_naming_its_header(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)

    response = await upload(client, b"Day,Reactions\n2026-11-01,5\n")

    assert response.status_code == 422
    assert "line 1: this header is not one leadlink recognises (&#39;Day,Reactions&#39;)" in (
        response.text
    )
    assert await stored_days(session) == 0


async def test_the_wrong_format_chosen_is_a_422(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)

    wrong = await upload(client, fixture("tiktok_overview.csv"), export_format="youtube-studio")
    assert wrong.status_code == 422
    assert "this is a TikTok Studio, Overview export, not YouTube Studio" in wrong.text
    # The form keeps the owner's choice.
    assert '<option value="youtube-studio" selected>' in wrong.text

    unknown = await upload(client, fixture("tiktok_overview.csv"), export_format="myspace")
    assert unknown.status_code == 422
    assert "Choose the file&#39;s format from the list." in unknown.text
    assert await stored_days(session) == 0


async def test_a_huge_export_is_refused_with_413(
    client: httpx.AsyncClient, session: AsyncSession, owner: User, handles: None
) -> None:
    await sign_in(client)
    line = b"2026-11-01,1714,83.9215,6,140,9,5,24880,5.3,0:02:56\n"
    content = fixture("youtube_studio_table_data.csv") + line * (MAX_CSV_BYTES // len(line) + 10)

    response = await upload(client, content)

    assert response.status_code == 413
    assert await stored_days(session) == 0


async def test_the_page_offers_the_formats_without_javascript(
    client: httpx.AsyncClient, owner: User, handles: None
) -> None:
    await sign_in(client)

    page = await client.get("/admin/likes")

    assert '<label for="f-upload-format">Format</label>' in page.text
    assert '<option value="detect" selected>Detect from the file&#39;s header</option>' in page.text
    for key in ("leadlink", "youtube-studio", "tiktok-overview", "tiktok-followers"):
        assert f'<option value="{key}">' in page.text
    assert "Meta Business Suite" in page.text
