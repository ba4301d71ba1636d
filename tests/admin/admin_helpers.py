"""Helpers of the admin tests: signing in through the real form. (The owner's address and
password, and the report numbers they seed, are builders in tests/factories.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from tests.factories import OWNER_EMAIL, OWNER_PASSWORD

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
"""The `make_client` fixture: `async with make_client(**settings) as client`."""


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD
) -> httpx.Response:
    form = await client.get("/admin/login")
    assert form.status_code == 200
    return await client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(form.text)},
    )


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def assert_only_static_scripts(html: str) -> None:
    """Every script of the page is a file from this server's /static, none inline: the admin's
    policy (`script-src 'self'`) would refuse an inline one, and a browser would not run it."""
    for attributes, body in SCRIPT_TAG.findall(html):
        source = re.search(r'\bsrc="([^"]+)"', attributes)
        assert source is not None, attributes
        assert source.group(1).startswith("/static/"), attributes
        assert body.strip() == ""
    assert not INLINE_HANDLER.search(html), "inline event handler"


async def signed_in_token(client: httpx.AsyncClient, path: str) -> str:
    """Sign in as the owner and return the CSRF token of the form at `path`."""
    assert (await sign_in(client)).status_code == 303
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)
