"""Every `/admin` route refuses anonymous requests, and every POST needs its CSRF token.

The routes are read from the app itself, so a page added later is covered without being listed.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.admin.sessions import LOGIN_COOKIE, SESSION_COOKIE, SessionCodec
from app.templating import TEMPLATES_DIR
from app.users.models import User
from tests.admin.admin_helpers import csrf_from, sign_in
from tests.databases import TEST_SECRET
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD

# The sign-in form and an invitation link are the pages a stranger may open (their POSTs have a
# CSRF check of their own, bound to the pre-sign-in cookie).
PUBLIC = {
    ("GET", "/admin/login"),
    ("POST", "/admin/login"),
    ("GET", "/admin/invite/1"),
    ("POST", "/admin/invite/1"),
}


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = sorted(
        (method, re.sub(r"\{[^}]+\}", "1", route.path))
        for route in iter_route_contexts(app.routes)  # flattens included routers
        if route.path and route.path.startswith("/admin")
        for method in route.methods or ()
    )
    assert ("GET", "/admin/report") in routes
    assert ("POST", "/admin/logout") in routes
    return routes


def post_routes(app: FastAPI) -> list[str]:
    return [path for method, path in admin_routes(app) if method == "POST"]


async def test_every_admin_route_refuses_an_anonymous_request(
    app: FastAPI, client: httpx.AsyncClient, owner: User
) -> None:
    checked = 0
    for method, path in admin_routes(app):
        if (method, path) in PUBLIC:
            continue
        data = {"csrf_token": "x"} if method == "POST" else None
        response = await client.request(method, path, data=data)
        if method in {"GET", "HEAD"}:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"] == "/admin/login"
        else:
            assert response.status_code == 403, (method, path)
            assert "not signed in" in response.text
        checked += 1
    assert checked >= 3


async def test_every_post_needs_the_csrf_token_of_its_session(
    app: FastAPI, client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    session_token = csrf_from((await client.get("/admin/report")).text)
    codec = SessionCodec(TEST_SECRET, "http://testserver")
    another_session = codec.csrf_token(codec.issue(owner.id, owner.session_version, now=1))
    for path in post_routes(app):
        for data in [
            {},
            {"csrf_token": ""},
            {"csrf_token": "forged"},
            {"csrf_token": session_token[:-1] + ("A" if session_token[-1] != "A" else "B")},
            {"csrf_token": another_session},
        ]:
            response = await client.post(path, data=data)
            assert response.status_code == 403, (path, data)
            assert "form has expired or was not sent from this site" in response.text
    # Still signed in: nothing above did anything.
    assert (await client.get("/admin/report")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/admin/report"},
        {"origin": "http://testserver.evil.example"},
    ],
)
async def test_a_post_from_another_site_is_refused_even_with_the_token(
    app: FastAPI, client: httpx.AsyncClient, owner: User, headers: dict[str, str]
) -> None:
    await sign_in(client)
    token = csrf_from((await client.get("/admin/report")).text)
    for path in post_routes(app):
        if path == "/admin/login":
            continue
        response = await client.post(path, data={"csrf_token": token}, headers=headers)
        assert response.status_code == 403, (path, headers)
    assert (await client.get("/admin/report")).status_code == 200


async def test_a_same_origin_post_with_the_token_is_accepted(
    client: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    token = csrf_from((await client.get("/admin/report")).text)
    response = await client.post(
        "/admin/logout",
        data={"csrf_token": token},
        headers={"origin": "http://testserver", "referer": "http://testserver/admin/report"},
    )
    assert response.status_code == 303


async def test_the_login_post_needs_the_token_of_its_own_form(
    client: httpx.AsyncClient, owner: User
) -> None:
    form = await client.get("/admin/login")
    assert LOGIN_COOKIE in form.headers["set-cookie"]
    token = csrf_from(form.text)
    credentials = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    assert (await client.post("/admin/login", data=credentials)).status_code == 403
    # The token is bound to this browser's pre-sign-in cookie: without the cookie it is void.
    stranger = await client.post(
        "/admin/login",
        data={**credentials, "csrf_token": token},
        headers={"cookie": f"{LOGIN_COOKIE}=someone-elses-nonce"},
    )
    assert stranger.status_code == 403
    response = await client.post("/admin/login", data={**credentials, "csrf_token": token})
    assert response.status_code == 303
    assert SESSION_COOKIE in response.headers["set-cookie"]


async def test_a_huge_form_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/login", data={"email": "a" * 20_000})
    assert response.status_code == 413


def test_every_post_form_in_the_admin_templates_carries_the_csrf_field() -> None:
    forms = 0
    for template in sorted((TEMPLATES_DIR / "admin").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, re.DOTALL | re.IGNORECASE):
            opening = match.group(0)[: match.group(0).index(">") + 1].lower()
            if 'method="post"' in opening:
                forms += 1
                assert "csrf_input(" in match.group(1), f"{Path(template).name}: {opening}"
            else:
                # GET forms only filter; a token in a URL would leak through logs and Referer.
                assert 'method="get"' in opening, f"{template.name}: give the form a method"
    assert forms >= 2
