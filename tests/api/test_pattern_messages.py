"""A value that breaks a field's form gets a sentence an API client can act on, not the regular
expression of the schema; and every pattern `/openapi.json` states has such a sentence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app import patterns
from tests.factories import bearer, issue_key


def _messages(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def test_a_broken_form_is_described_in_words(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = bearer(await issue_key(session, ["pages:write"]))
    await session.commit()

    handle = await client.post("/api/v1/handles", json={"name": "two words"}, headers=headers)
    assert _messages(handle)["name"] == (
        "Must be 1 to 30 of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or a "
        "digit (an '@' in front is ignored)."
    )

    page = await client.post(
        "/api/v1/pages",
        json={"handle": "nobody", "slug": "-bad-", "title": "Two\nlines"},
        headers=headers,
    )
    messages = _messages(page)
    assert (
        messages["slug"] == "Must be 1 to 64 of a-z, 0-9 and '-', not starting or ending with '-'."
    )
    assert messages["title"] == "Must be a single line without control characters, and not blank."
    for message in messages.values():
        assert "pattern" not in message
        assert "^" not in message


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


async def test_every_pattern_of_the_schema_has_its_sentence(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    stated = set(_patterns(schema))

    assert len(stated) >= 10
    undescribed = {
        pattern for pattern in stated if patterns.problem_with(pattern) == patterns.UNDESCRIBED
    }
    assert undescribed == set()
