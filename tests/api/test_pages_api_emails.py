"""The pages API takes and shows a page's own email wording and thank-you redirect, with the
same checks as the admin's editor."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World, bearer, issue_key

PAGES = "/api/v1/pages"


async def writer(session: AsyncSession) -> dict[str, str]:
    secret = await issue_key(session, ["pages:write"])
    await session.commit()
    return bearer(secret)


async def test_the_email_wording_and_thank_you_url_are_stored_and_shown(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer(session)
    created = await client.post(
        PAGES,
        json={
            "handle": "anna",
            "slug": "letter",
            "title": "The letter",
            "confirm_subject": "Confirm for {gift_title}",
            "confirm_text": "Hi!\r\n\r\nOne click.",
            "gift_subject": "Here it is",
            "gift_text": "Enjoy, {name}.",
            "thank_you_url": "https://shop.example.com/thanks",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    page = created.json()
    assert page["confirm_subject"] == "Confirm for {gift_title}"
    assert page["confirm_text"] == "Hi!\n\nOne click."
    assert (page["gift_subject"], page["gift_text"]) == ("Here it is", "Enjoy, {name}.")
    assert page["thank_you_url"] == "https://shop.example.com/thanks"

    cleared = await client.patch(
        f"{PAGES}/letter", json={"thank_you_url": None, "gift_subject": ""}, headers=headers
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["thank_you_url"] is None
    assert cleared.json()["gift_subject"] == ""
    assert cleared.json()["confirm_subject"] == "Confirm for {gift_title}"


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example.com/thanks",
        "javascript:alert(1)",
        "https://10.0.0.7/thanks",
        "https://localhost/thanks",
    ],
)
async def test_a_bad_thank_you_url_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, world: World, url: str
) -> None:
    headers = await writer(session)
    response = await client.patch(
        f"{PAGES}/{world.anna_page.slug}", json={"thank_you_url": url}, headers=headers
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["thank_you_url"]


async def test_a_subject_is_one_line(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await writer(session)
    response = await client.patch(
        f"{PAGES}/{world.anna_page.slug}", json={"confirm_subject": "Two\nlines"}, headers=headers
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["confirm_subject"]
