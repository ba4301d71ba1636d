"""`/api/v1/webhooks`: create (the secret once, stored encrypted), list, show, change, delete,
rotate the secret; private targets refused; who may see which endpoint; the OpenAPI contract."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.webhooks.models import WebhookEndpoint
from app.webhooks.signing import cipher_for
from tests.databases import TEST_SECRET
from tests.factories import add_handle, bearer, issue_key
from tests.webhooks.webhook_helpers import api

HOOKS = "/api/v1/webhooks"
PUBLIC_URL = "https://93.184.216.34/hooks/leadlink"


async def test_create_show_list_change_and_delete_an_endpoint(
    client: httpx.AsyncClient, session: AsyncSession, admin_key: str
) -> None:
    created = await api(
        client,
        admin_key,
        "POST",
        HOOKS,
        json={"url": PUBLIC_URL, "events": ["lead.created"], "description": "HubSpot"},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert endpoint["status"] == "active"
    assert endpoint["events"] == ["lead.created"]
    assert created.headers["location"] == f"{HOOKS}/{endpoint['id']}"

    stored = await session.get_one(WebhookEndpoint, int(endpoint["id"]))
    assert secret not in stored.secret, "the secret is encrypted at rest"
    assert cipher_for(TEST_SECRET).decrypt(stored.secret) == secret

    shown = (await api(client, admin_key, "GET", f"{HOOKS}/{endpoint['id']}")).json()
    assert "secret" not in shown
    assert shown["url"] == PUBLIC_URL

    changed = await api(
        client,
        admin_key,
        "PATCH",
        f"{HOOKS}/{endpoint['id']}",
        json={"events": [], "description": "All events", "status": "disabled"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == []
    assert changed.json()["status"] == "disabled"
    assert changed.json()["disabled_reason"] == "disabled through the API"
    enabled = await api(
        client, admin_key, "PATCH", f"{HOOKS}/{endpoint['id']}", json={"status": "active"}
    )
    assert enabled.json()["status"] == "active"
    assert enabled.json()["disabled_reason"] is None

    deleted = await api(client, admin_key, "DELETE", f"{HOOKS}/{endpoint['id']}")
    assert deleted.status_code == 204
    gone = await api(client, admin_key, "GET", f"{HOOKS}/{endpoint['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


async def test_the_list_pages_with_a_cursor(client: httpx.AsyncClient, admin_key: str) -> None:
    ids = []
    for number in range(5):
        response = await api(
            client, admin_key, "POST", HOOKS, json={"url": f"{PUBLIC_URL}/{number}"}
        )
        ids.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api(client, admin_key, "GET", HOOKS, params=params)).json()
        assert all("secret" not in item for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = await api(client, admin_key, "GET", HOOKS, params={"cursor": "forged"})
    assert bad.status_code == 422


PRIVATE_TARGETS = [
    "http://127.0.0.1:8000/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:192.168.0.1]/hook",
    "http://localhost:9000/hook",
    "http://0.0.0.0/hook",
]


# Hosts an HTTP client reads as an IP literal, whatever the spelling (WHATWG URL host parser):
# decimal, octal, hex, short forms, percent-encoded, compatibility digits, odd dots.
LOOPBACK_SPELLINGS = [
    "http://0177.0.0.1/hook",
    "http://\u2460\u2461\u2466.0.0.1/hook",  # circled digits: 127
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",  # full-width digits
    "http://0x7f.0.0.1/hook",
    "http://0X7F.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://017700000001/hook",
    "http://127.1/hook",
    "http://127.0.1/hook",
    "http://%31%32%37.0.0.1/hook",
    "http://0177.0.0.1./hook",
    "http://127.0.0.1\u3002/hook",  # ideographic full stop
    "http://0/hook",
    "http://0x0a.1.2.3/hook",
    "http://0251.0376.0251.0376/latest/meta-data",
    "http://3232235521/hook",
    "http://[0:0:0:0:0:ffff:7f00:1]/hook",
]
# Hosts no client can use: not a valid IPv4 address although the last label is a number, or a
# name that cannot be encoded.
UNUSABLE_HOSTS = [
    "http://\u0661\u0662\u0667.0.0.1/hook",  # Arabic-Indic digits stay letters: not an address
    "http://999.0.0.1/hook",
    "http://127.0.0.256/hook",
    "http://1.2.3.4.5/hook",
    "http://09.0.0.1/hook",
    "http://0x100000000/hook",
    "http://%ff.example.com/hook",
    "http://exa%2Fmple.com/hook",
    "http://a..example.com/hook",
    "http://" + "x" * 64 + ".example.com/hook",
    "http://[fe80::1%25eth0]/hook",
]


@pytest.mark.parametrize("allow_private", [False, True])
async def test_every_spelling_of_a_host_is_a_422_naming_url_or_is_read_as_a_client_would(
    client: httpx.AsyncClient, admin_key: str, allow_private: bool
) -> None:
    for url in [*UNUSABLE_HOSTS, *([] if allow_private else LOOPBACK_SPELLINGS)]:
        response = await api(client, admin_key, "POST", HOOKS, json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert [error["field"] for error in response.json()["errors"]] == ["url"], url
    for url in LOOPBACK_SPELLINGS if allow_private else []:
        response = await api(client, admin_key, "POST", HOOKS, json={"url": url})
        assert response.status_code == 201, (url, response.text)
    listed = (await api(client, admin_key, "GET", HOOKS)).json()["items"]
    assert len(listed) == (len(LOOPBACK_SPELLINGS) if allow_private else 0)


async def test_an_unreadable_body_is_a_documented_400(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    # Found by schemathesis: a body that is not UTF-8 got a 400 the schema did not list.
    response = await client.patch(
        f"{HOOKS}/1",
        content=b"l\xce\xa2\xff",
        headers={**bearer(admin_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Bad Request"
    spec = (await client.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        if path.startswith(HOOKS):
            for method, operation in item.items():
                assert "400" in operation["responses"], (method, path)


@pytest.mark.parametrize("allow_private", [False])
async def test_targets_on_private_addresses_are_refused(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    unusable = ["ftp://example.com/hook", "https://user:pw@example.com/", "http://x.invalid/"]
    for url in [*PRIVATE_TARGETS, *unusable]:
        response = await api(client, admin_key, "POST", HOOKS, json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == ["url"], url
    assert (await api(client, admin_key, "GET", HOOKS)).json()["items"] == []


@pytest.mark.parametrize("allow_private", [False])
async def test_public_targets_are_accepted_and_a_change_of_url_is_checked_again(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    created = await api(client, admin_key, "POST", HOOKS, json={"url": PUBLIC_URL})
    assert created.status_code == 201, created.text
    moved = await api(
        client,
        admin_key,
        "PATCH",
        f"{HOOKS}/{created.json()['id']}",
        json={"url": "http://192.168.1.10/hook"},
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "url"
    assert "private" in moved.json()["errors"][0]["message"]


async def test_private_targets_are_allowed_when_configured(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    # Nothing to refuse: only the URL's form is checked, without a DNS lookup.
    for url in [*PRIVATE_TARGETS, "http://not-resolved.invalid/hook"]:
        response = await api(client, admin_key, "POST", HOOKS, json={"url": url})
        assert response.status_code == 201, response.text
    refused = await api(client, admin_key, "POST", HOOKS, json={"url": "javascript:alert(1)"})
    assert refused.status_code == 422


async def test_rotating_the_secret_shows_the_new_one_once(
    client: httpx.AsyncClient, session: AsyncSession, admin_key: str
) -> None:
    created = (await api(client, admin_key, "POST", HOOKS, json={"url": PUBLIC_URL})).json()
    rotated = await api(client, admin_key, "POST", f"{HOOKS}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    expires = body["previous_secret_expires_at"]
    shown = (await api(client, admin_key, "GET", f"{HOOKS}/{created['id']}")).json()
    assert shown["previous_secret_expires_at"] == expires
    stored = await session.get_one(WebhookEndpoint, int(created["id"]))
    await session.refresh(stored)
    cipher = cipher_for(TEST_SECRET)
    assert cipher.decrypt(stored.secret) == body["secret"]
    assert stored.previous_secret is not None
    assert cipher.decrypt(stored.previous_secret) == created["secret"]
    assert stored.previous_secret_expires_at is not None
    overlap = stored.previous_secret_expires_at - utcnow()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)


async def test_an_idempotent_create_makes_one_endpoint_and_never_replays_the_secret(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    headers = {**bearer(admin_key), "Idempotency-Key": "create-hook-1"}
    first = await client.post(HOOKS, json={"url": PUBLIC_URL}, headers=headers)
    again = await client.post(HOOKS, json={"url": PUBLIC_URL}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["secret"]
    assert again.json()["secret"] is None
    listed = (await api(client, admin_key, "GET", HOOKS)).json()
    assert [item["id"] for item in listed["items"]] == [first.json()["id"]]


async def test_only_admin_keys_manage_webhooks_and_restricted_keys_see_their_own(
    client: httpx.AsyncClient, session: AsyncSession, admin_key: str
) -> None:
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    reader = await issue_key(session, ["leads:read", "leads:write", "reports:read"])
    anna_admin = await issue_key(session, ["admin"], [anna])
    bob_admin = await issue_key(session, ["admin"], [bob])
    await session.commit()

    assert (await client.get(HOOKS)).status_code == 401
    assert (await api(client, reader, "GET", HOOKS)).status_code == 403
    refused = await api(client, reader, "POST", HOOKS, json={"url": PUBLIC_URL})
    assert refused.status_code == 403

    everyone = (await api(client, admin_key, "POST", HOOKS, json={"url": PUBLIC_URL})).json()
    annas = (await api(client, anna_admin, "POST", HOOKS, json={"url": PUBLIC_URL})).json()
    assert everyone["handles"] == []
    assert annas["handles"] == ["anna"]

    listed = (await api(client, anna_admin, "GET", HOOKS)).json()
    assert [item["id"] for item in listed["items"]] == [annas["id"]]
    all_of_them = (await api(client, admin_key, "GET", HOOKS)).json()
    assert {item["id"] for item in all_of_them["items"]} == {everyone["id"], annas["id"]}
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/ping"),
        ("GET", "/deliveries"),
    ]:
        body: dict[str, Any] | None = {} if method == "PATCH" else None
        hidden = await api(client, bob_admin, method, f"{HOOKS}/{annas['id']}{suffix}", json=body)
        assert hidden.status_code == 404, (method, suffix, hidden.text)
    # An endpoint for every handle is more than a key restricted to one handle may see.
    assert (await api(client, anna_admin, "GET", f"{HOOKS}/{everyone['id']}")).status_code == 404
    assert (await api(client, admin_key, "GET", f"{HOOKS}/not-a-number")).status_code == 404


async def test_every_webhooks_operation_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith(HOOKS)
        for method, operation in item.items()
    ]
    assert len(operations) == 9
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["security"] == [{"ApiKey": []}], where
        assert operation.get("summary"), where
        for status in ("401", "403", "422"):
            assert "application/problem+json" in operation["responses"][status]["content"], where
        if method in {"post", "patch", "delete"}:
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, where
    schemas = spec["components"]["schemas"]
    for name in ["WebhookCreate", "WebhookCreated", "WebhookRead", "WebhookUpdate",
                 "WebhookList", "WebhookSecret", "DeliveryRead", "DeliveryList"]:  # fmt: skip
        assert schemas[name].get("examples"), name
