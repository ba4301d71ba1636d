"""Owner sign-in: the form, the session cookie, rate limits, sign-out and ended sessions."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.sessions import SESSION_COOKIE, SESSION_MAX_AGE_SECONDS, SessionCodec
from app.admin.views import LOGIN_FAILED
from app.users import service as users
from app.users.models import User
from tests.admin.admin_helpers import ClientFactory, assert_only_static_scripts, csrf_from, sign_in
from tests.databases import TEST_SECRET
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD


def _session_cookie(response: httpx.Response) -> SimpleCookie:
    headers = [v for v in response.headers.get_list("set-cookie") if SESSION_COOKIE in v]
    assert len(headers) == 1, headers
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


async def _report_with_cookie(client: httpx.AsyncClient, value: str) -> httpx.Response:
    client.cookies.clear()
    return await client.get("/admin/report", headers={"cookie": f"{SESSION_COOKIE}={value}"})


async def test_signing_in_opens_the_dashboard(client: httpx.AsyncClient, owner: User) -> None:
    response = await sign_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    report = await client.get("/admin/report")
    assert report.status_code == 200
    assert "Likes to leads" in report.text
    assert OWNER_EMAIL in report.text
    assert report.headers["cache-control"] == "no-store"


async def test_the_email_is_matched_without_case_or_spaces(
    client: httpx.AsyncClient, owner: User, session: AsyncSession
) -> None:
    response = await sign_in(client, email="  Owner@Example.COM ")
    assert response.status_code == 303
    await session.refresh(owner)
    assert owner.last_login_at is not None


async def test_the_session_cookie_is_httponly_lax_and_scoped_to_admin(
    client: httpx.AsyncClient, owner: User
) -> None:
    response = await sign_in(client)
    cookie = _session_cookie(response)[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/admin"
    assert int(cookie["max-age"]) == SESSION_MAX_AGE_SECONDS
    assert not cookie["secure"]  # http://testserver: a Secure cookie would never come back


async def test_the_cookie_is_secure_when_the_base_url_is_https(
    make_client: ClientFactory, owner: User
) -> None:
    async with make_client(base_url="https://links.example") as client:
        response = await sign_in(client)
    assert response.status_code == 303
    assert _session_cookie(response)[SESSION_COOKIE]["secure"] is True


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (OWNER_EMAIL, "not the password"),
        ("nobody@example.com", OWNER_PASSWORD),
        ("not an email", OWNER_PASSWORD),
        (OWNER_EMAIL, ""),
    ],
)
async def test_a_wrong_sign_in_says_nothing_about_which_part_was_wrong(
    client: httpx.AsyncClient, owner: User, email: str, password: str
) -> None:
    response = await sign_in(client, email=email, password=password)
    assert response.status_code == 401
    assert LOGIN_FAILED in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert (await client.get("/admin/report")).status_code == 303


class RecordingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(str(hash))
        return super().verify(hash, password)


async def test_unknown_address_is_hashed_like_a_known_one(
    session: AsyncSession, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = RecordingHasher()
    monkeypatch.setattr(users, "password_hasher", hasher)
    assert await users.authenticate(session, "nobody@example.com", OWNER_PASSWORD) is None
    assert await users.authenticate(session, OWNER_EMAIL, "wrong password!") is None
    unknown, known = hasher.verified
    # The same argon2 parameters, so both answers take the same work.
    assert unknown.rsplit("$", 2)[0] == known.rsplit("$", 2)[0]
    assert unknown != known


async def test_sign_in_is_rate_limited_per_ip(make_client: ClientFactory, owner: User) -> None:
    async with make_client(login_rate_per_ip="3/minute") as client:
        for attempt in range(3):
            response = await sign_in(client, email=f"guess{attempt}@example.com")
            assert response.status_code == 401
        blocked = await sign_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert "Too Many Requests" in blocked.text


async def test_sign_in_is_rate_limited_per_email(make_client: ClientFactory, owner: User) -> None:
    async with make_client(login_rate_per_email="2/hour") as client:
        assert (await sign_in(client, password="guess one!")).status_code == 401
        assert (
            await sign_in(client, email="OWNER@example.com", password="guess 2")
        ).status_code == (401)
        blocked = await sign_in(client)
        other = await sign_in(client, email="someone@example.com", password="whatever1")
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 60  # an hour-long window
    assert other.status_code == 401  # another address still gets its answer


async def test_guessing_locks_out_the_guesser_not_the_owner(
    make_client: ClientFactory, owner: User
) -> None:
    # The test client's peer is 127.0.0.1; trusting it lets X-Forwarded-For name the client.
    async with make_client(trusted_proxies=["127.0.0.1"]) as client:
        client.headers["X-Forwarded-For"] = "203.0.113.7"
        for _ in range(10):
            assert (await sign_in(client, password="wrong-password")).status_code == 401
        client.headers["X-Forwarded-For"] = "203.0.113.8"  # a new minute's worth for the IP
        guesser = await sign_in(client, password="another-guess")
        client.headers["X-Forwarded-For"] = "198.51.100.20"
        real_owner = await sign_in(client)
    assert guesser.status_code == 401  # per-IP only counted 203.0.113.7's ten
    assert real_owner.status_code == 303


async def test_the_guesser_waits_an_hour_for_that_address(
    make_client: ClientFactory, owner: User
) -> None:
    async with make_client(trusted_proxies=["127.0.0.1"], login_rate_per_ip="100/minute") as c:
        c.headers["X-Forwarded-For"] = "203.0.113.7"
        for _ in range(10):
            assert (await sign_in(c, password="wrong-password")).status_code == 401
        blocked = await sign_in(c)
        c.headers["X-Forwarded-For"] = "198.51.100.20"
        owner_elsewhere = await sign_in(c)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 60
    assert owner_elsewhere.status_code == 303


async def test_an_address_has_a_ceiling_across_all_clients(
    make_client: ClientFactory, owner: User
) -> None:
    settings = {"login_rate_per_email_all_clients": "3/hour", "trusted_proxies": ["127.0.0.1"]}
    async with make_client(**settings) as client:
        for n in range(3):
            client.headers["X-Forwarded-For"] = f"203.0.113.{n + 1}"
            assert (await sign_in(client, password="wrong-password")).status_code == 401
        client.headers["X-Forwarded-For"] = "198.51.100.20"
        blocked = await sign_in(client)
        other = await sign_in(client, email="someone@example.com", password="whatever1")
    assert blocked.status_code == 429
    assert other.status_code == 401


async def test_the_default_limit_allows_ten_attempts_a_minute(
    client: httpx.AsyncClient, owner: User
) -> None:
    for _ in range(10):
        assert (await sign_in(client, password="wrong-password")).status_code == 401
    assert (await sign_in(client)).status_code == 429


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, owner: User) -> None:
    await sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    report = await client.get("/admin/report")
    response = await client.post("/admin/logout", data={"csrf_token": csrf_from(report.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    assert _session_cookie(response)[SESSION_COOKIE]["max-age"] == "0"
    # A copy of the old cookie (another tab, a stolen value) no longer works either.
    again = await _report_with_cookie(client, cookie)
    assert again.status_code == 303
    assert again.headers["location"] == "/admin/login"


async def test_a_new_password_ends_every_session(
    client: httpx.AsyncClient, owner: User, session: AsyncSession
) -> None:
    await sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    await users.change_password(session, owner, "a brand new password")
    assert (await _report_with_cookie(client, cookie)).status_code == 303
    client.cookies.clear()
    assert (await sign_in(client)).status_code == 401
    assert (await sign_in(client, password="a brand new password")).status_code == 303


async def test_forged_and_expired_cookies_are_refused(
    client: httpx.AsyncClient, owner: User
) -> None:
    codec = SessionCodec(TEST_SECRET, "http://testserver")
    other_key = SessionCodec("another-secret-" + "y" * 40, "http://testserver")
    week_ago = time.time() - SESSION_MAX_AGE_SECONDS - 60
    for value in [
        other_key.issue(owner.id, owner.session_version),
        codec.issue(owner.id, owner.session_version, now=week_ago),
        codec.issue(owner.id, owner.session_version + 1),
        codec.issue(owner.id + 1000, 1),
        codec.issue(owner.id, owner.session_version)[:-2] + "AA",
        "garbage",
    ]:
        response = await _report_with_cookie(client, value)
        assert response.status_code == 303, value
    fresh = await _report_with_cookie(client, codec.issue(owner.id, owner.session_version))
    assert fresh.status_code == 200


async def test_the_login_form_sends_a_signed_in_owner_on(
    client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    response = await client.get("/admin/login")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"


async def test_the_login_form_is_accessible_and_never_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/login")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert 'autocomplete="username"' in response.text
    assert 'autocomplete="current-password"' in response.text
    assert '<label for="password">' in response.text
    assert_only_static_scripts(response.text)
