"""Bad input and bots at the opt-in form: clear errors, nothing lost, nothing half-written."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import metrics
from app.db import Database
from app.leads.models import Lead
from app.links import service as links
from app.pages import service as pages
from app.pages.schemas import PageCreate
from app.signing import Signer
from tests.apps import build_app
from tests.databases import DatabaseUnderTest, make_settings

TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')


@pytest.fixture
async def app(
    database: DatabaseUnderTest, connection: AsyncConnection, tmp_path: Path
) -> AsyncIterator[Any]:
    settings = make_settings(
        tmp_path,
        database.settings.effective_database_url,
        optin_rate_per_ip="5/minute",
        optin_rate_per_email="1000/hour",
    )
    application = build_app(settings, database=Database(connection, owns_engine=False))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def page(session: AsyncSession) -> None:
    handle = await links.create_handle(session, "eve")
    created = await pages.create_page(
        session,
        handle,
        PageCreate(slug="offer", title="Offer", gift_kind="text", gift_value="Thanks!"),
    )
    await pages.publish_page(session, created)
    await pages.create_page(session, handle, slug="draft", title="Draft")
    await session.commit()


async def token(client: httpx.AsyncClient, app: Any, *, age: float = 5) -> str:
    response = await client.get("/p/offer", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    found = TOKEN_FIELD.search(response.text)
    assert found is not None
    signer: Signer = app.state.one_link.signer
    values, _issued = signer.unsign_fields(found.group(1))
    return signer.sign_fields(values, now=time.time() - age)


async def leads(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Lead))).scalar_one()


@pytest.mark.usefixtures("page")
async def test_valid_submission_is_committed(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    response = await client.post(
        "/p/offer", data={"a": await token(client, app), "email": "ok@example.com"}
    )
    assert response.status_code == 303
    assert await leads(session) == 1


@pytest.mark.usefixtures("page")
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "ok@example.com", "name": "Eve\r\nBcc: x@example.com"}, "name"),
        ({"email": "ok@example.com\x00"}, "email"),
        ({"email": "ok@example.com", "admin": "1"}, "form"),
    ],
)
async def test_bad_fields_re_render_the_form_naming_the_field(
    client: httpx.AsyncClient,
    app: Any,
    session: AsyncSession,
    fields: dict[str, str],
    named: str,
) -> None:
    response = await client.post("/p/offer", data={"a": await token(client, app), **fields})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    if named != "form":
        assert re.search(rf'name="{named}"[^>]*aria-invalid="true"', response.text) or re.search(
            rf'aria-invalid="true"[^>]*name="{named}"', response.text
        )
    assert await leads(session) == 0


@pytest.mark.usefixtures("page")
async def test_typed_markup_is_kept_but_escaped(client: httpx.AsyncClient, app: Any) -> None:
    response = await client.post(
        "/p/offer",
        data={"a": await token(client, app), "email": '"><script>alert(1)</script>'},
    )
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


@pytest.mark.usefixtures("page")
async def test_too_many_fields_and_wrong_content_type(client: httpx.AsyncClient) -> None:
    many = {f"x{i}": "1" for i in range(40)}
    assert (await client.post("/p/offer", data=many)).status_code == 422
    as_json = await client.post("/p/offer", json={"email": "a@example.com"})
    assert as_json.status_code == 422


@pytest.mark.usefixtures("page")
async def test_an_oversized_body_is_413(client: httpx.AsyncClient, session: AsyncSession) -> None:
    response = await client.post("/p/offer", data={"email": "a@example.com", "name": "x" * 20_000})
    assert response.status_code == 413
    assert await leads(session) == 0


@pytest.mark.usefixtures("page")
@pytest.mark.parametrize("slug", ["nope", "draft"])
async def test_unknown_or_unpublished_page_is_a_404_page(
    client: httpx.AsyncClient, slug: str
) -> None:
    response = await client.post(f"/p/{slug}", data={"email": "a@example.com"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.usefixtures("page")
async def test_honeypot_gets_the_normal_answer_and_writes_nothing(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    before = metrics.optin_submissions.labels("honeypot")._value.get()
    response = await client.post(
        "/p/offer",
        data={"a": await token(client, app), "email": "bot@example.com", "website": "x.biz"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/p/offer/thanks"
    assert await leads(session) == 0
    assert metrics.optin_submissions.labels("honeypot")._value.get() == before + 1


@pytest.mark.usefixtures("page")
async def test_a_form_sent_within_two_seconds_is_a_bot(
    client: httpx.AsyncClient, app: Any, session: AsyncSession
) -> None:
    fast = await token(client, app, age=0)
    response = await client.post("/p/offer", data={"a": fast, "email": "fast@example.com"})
    assert response.status_code == 303
    assert await leads(session) == 0


@pytest.mark.usefixtures("page")
@pytest.mark.parametrize("age", [25 * 3600, None])
async def test_a_stale_or_tokenless_form_simply_re_renders(
    client: httpx.AsyncClient, app: Any, session: AsyncSession, age: float | None
) -> None:
    data = {"email": "late@example.com"}
    if age is not None:
        data["a"] = await token(client, app, age=age)
    response = await client.post("/p/offer", data=data)
    assert response.status_code == 200
    assert "expired" in response.text
    assert 'value="late@example.com"' in response.text
    assert await leads(session) == 0


@pytest.mark.usefixtures("page")
async def test_rate_limit_per_ip_answers_429_with_retry_after(
    client: httpx.AsyncClient, app: Any
) -> None:
    statuses = []
    for i in range(7):
        response = await client.post(
            "/p/offer", data={"a": await token(client, app), "email": f"r{i}@example.com"}
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [303] * 5
    assert statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("page")
async def test_a_visitor_who_leaves_mid_upload_is_logged_as_499_and_writes_nothing(
    app: Any, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/p/offer", "raw_path": b"/p/offer", "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("203.0.113.9", 4711),
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", b"40")],
    }  # fmt: skip
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"email=gone%40example", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 499
    assert await leads(session) == 0
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
