"""Who may call what: a table of (key, route, expected status) for every `/api/v1` route.

No key, a malformed, unknown or revoked key: 401 with `WWW-Authenticate`. A key without the
route's scope: 403 (`admin` has every scope). A key restricted to one handle: another handle's
lead, page, handle, route, report or webhook endpoint is a 404, exactly like one that does not
exist; it cannot create handles or manage API keys (403).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.links import service as links
from app.webhooks import service as webhooks
from app.webhooks.signing import cipher_for
from tests.databases import TEST_SECRET
from tests.factories import World, bearer, issue_key

# route: method, URL template, JSON body template, status on success
ROUTES: dict[str, tuple[str, str, Any, int]] = {
    "leads.list": ("GET", "/api/v1/leads?handle={handle}", None, 200),
    "leads.get": ("GET", "/api/v1/leads/{lead}", None, 200),
    "leads.export_csv": ("GET", "/api/v1/leads/export.csv?handle={handle}", None, 200),
    "leads.export_ndjson": ("GET", "/api/v1/leads/export.ndjson?page={page}", None, 200),
    "leads.export_person": ("GET", "/api/v1/leads/export?email={email}", None, 200),
    "leads.create": (
        "POST",
        "/api/v1/leads",
        {"email": "new@example.com", "page": "{page}", "status": "confirmed"},
        201,
    ),
    "leads.update": ("PATCH", "/api/v1/leads/{lead}", {"status": "customer"}, 200),
    "leads.erase": ("DELETE", "/api/v1/leads/{lead}", None, 204),
    "erasures.create": ("POST", "/api/v1/erasures", {"email": "{email}"}, 200),
    "keys.list": ("GET", "/api/v1/keys", None, 200),
    "keys.get": ("GET", "/api/v1/keys/{key}", None, 200),
    "keys.create": ("POST", "/api/v1/keys", {"name": "CRM", "scopes": ["leads:read"]}, 201),
    "keys.revoke": ("POST", "/api/v1/keys/{key}/revoke", None, 200),
    "pages.list": ("GET", "/api/v1/pages?handle={handle}", None, 200),
    "pages.get": ("GET", "/api/v1/pages/{page}", None, 200),
    "pages.create": (
        "POST",
        "/api/v1/pages",
        {"handle": "{handle}", "slug": "new-{handle}", "title": "New"},
        201,
    ),
    "pages.update": ("PATCH", "/api/v1/pages/{page}", {"headline": "Changed"}, 200),
    "pages.publish": ("POST", "/api/v1/pages/{page}/publish", None, 200),
    "pages.archive": ("POST", "/api/v1/pages/{page}/archive", None, 200),
    "handles.list": ("GET", "/api/v1/handles", None, 200),
    "handles.get": ("GET", "/api/v1/handles/{handle}", None, 200),
    "handles.create": ("POST", "/api/v1/handles", {"name": "new-{handle}"}, 201),
    "handles.update": ("PATCH", "/api/v1/handles/{handle}", {"display_name": "Changed"}, 200),
    "handles.route_add": (
        "POST",
        "/api/v1/handles/{handle}/routes",
        {"source": "tiktok", "page": "{page}", "weight": 2},
        201,
    ),
    "handles.route_get": ("GET", "/api/v1/handles/{handle}/routes/{route}", None, 200),
    "handles.route_remove": ("DELETE", "/api/v1/handles/{handle}/routes/{route}", None, 204),
    "reports.conversion": ("GET", "/api/v1/reports/conversion?handle={handle}", None, 200),
    "reports.variants": ("GET", "/api/v1/reports/variants?handle={handle}", None, 200),
    "social.list": ("GET", "/api/v1/social-metrics?handle={handle}", None, 200),
    "social.upsert": (
        "POST",
        "/api/v1/social-metrics",
        [{"handle": "{handle}", "platform": "instagram", "date": "2026-11-01", "likes": 5}],
        200,
    ),
    "webhooks.list": ("GET", "/api/v1/webhooks", None, 200),
    "webhooks.create": (
        "POST",
        "/api/v1/webhooks",
        {"url": "https://1.1.1.1/hooks/leadlink", "events": ["lead.created"]},
        201,
    ),
    "webhooks.get": ("GET", "/api/v1/webhooks/{webhook}", None, 200),
    "webhooks.update": ("PATCH", "/api/v1/webhooks/{webhook}", {"description": "New"}, 200),
    "webhooks.delete": ("DELETE", "/api/v1/webhooks/{webhook}", None, 204),
    "webhooks.rotate": ("POST", "/api/v1/webhooks/{webhook}/rotate-secret", None, 200),
    "webhooks.deliveries": ("GET", "/api/v1/webhooks/{webhook}/deliveries", None, 200),
    "webhooks.redeliver": (
        "POST",
        "/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver",
        None,
        202,
    ),
    "webhooks.ping": ("POST", "/api/v1/webhooks/{webhook}/ping", None, 202),
}
READS = [
    "leads.list",
    "leads.get",
    "leads.export_csv",
    "leads.export_ndjson",
    "leads.export_person",
]
WRITES = ["leads.create", "leads.update", "leads.erase"]
KEYS = ["keys.list", "keys.get", "keys.create", "keys.revoke"]
# `pages:write` or `leads:read`; every one but the handles list names a handle or page.
PAGE_READS = ["pages.list", "pages.get", "handles.list", "handles.get", "handles.route_get"]
# `pages:write`, on one handle.
PAGE_WRITES = [
    "pages.create",
    "pages.update",
    "pages.publish",
    "pages.archive",
    "handles.update",
    "handles.route_add",
    "handles.route_remove",
    "social.upsert",
]
# `reports:read`.
REPORTS = ["reports.conversion", "reports.variants", "social.list"]
# `admin`; endpoints made by a restricted key belong to its handles.
WEBHOOKS = [
    "webhooks.list",
    "webhooks.create",
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.rotate",
    "webhooks.deliveries",
    "webhooks.redeliver",
    "webhooks.ping",
]
OK = "ok"
# Authorization headers that are not a usable key; `world.keys` names the real ones.
BAD_CREDENTIALS = {
    "none": None,
    "basic": "Basic dXNlcjpwYXNz",
    "not-ll": "Bearer sk_live_123",
    "unknown": "Bearer ll_" + "x" * 43,
    "empty": "Bearer ",
}
# Keys this table adds to `world.keys`: scope and handles.
MORE_KEYS = {"pages": ["pages:write"], "anna_pages": ["pages:write"]}

CASES: list[tuple[str, str, str, int | str]] = []
for route in ROUTES:
    CASES += [(route, credential, "anna", 401) for credential in BAD_CREDENTIALS]
    CASES += [(route, "revoked", "anna", 401)]
for route in READS + WRITES + KEYS:
    CASES += [(route, "reports", "anna", 403), (route, "pages", "anna", 403)]
for route in READS:
    CASES += [(route, "read", "anna", OK), (route, "rw", "anna", OK), (route, "admin", "anna", OK)]
    CASES += [(route, "write", "anna", 403), (route, "anna_rw", "anna", OK)]
    CASES += [(route, "anna_admin", "anna", OK), (route, "admin", "bob", OK)]
for route in ["leads.list", "leads.get", "leads.export_csv", "leads.export_ndjson"]:
    CASES += [(route, "anna_rw", "bob", 404), (route, "anna_admin", "bob", 404)]
for route in WRITES:
    CASES += [(route, "write", "anna", OK), (route, "rw", "anna", OK), (route, "admin", "bob", OK)]
    CASES += [(route, "read", "anna", 403), (route, "anna_rw", "anna", OK)]
    CASES += [(route, "anna_rw", "bob", 404), (route, "anna_admin", "bob", 404)]
# Erasure by address takes the scope of DELETE; a key that cannot see the address's handle
# erases nothing there (`{"erased": 0}`), as with an address nobody has.
CASES += [("erasures.create", key, "anna", OK) for key in ("write", "rw", "anna_rw", "admin")]
CASES += [("erasures.create", "anna_rw", "bob", OK), ("erasures.create", "read", "anna", 403)]
CASES += [("erasures.create", "reports", "anna", 403), ("erasures.create", "pages", "anna", 403)]
for route in KEYS:
    CASES += [(route, "admin", "anna", OK), (route, "rw", "anna", 403)]
    CASES += [(route, "anna_admin", "anna", 403)]
for route in PAGE_READS:
    CASES += [(route, "pages", "anna", OK), (route, "read", "bob", OK), (route, "admin", "bob", OK)]
    CASES += [(route, "anna_pages", "anna", OK), (route, "anna_rw", "anna", OK)]
    CASES += [(route, "write", "anna", 403), (route, "reports", "anna", 403)]
    if route != "handles.list":
        CASES += [(route, "anna_pages", "bob", 404), (route, "anna_rw", "bob", 404)]
        CASES += [(route, "anna_admin", "bob", 404)]
for route in PAGE_WRITES:
    CASES += [(route, "pages", "anna", OK), (route, "admin", "bob", OK)]
    CASES += [(route, "anna_pages", "anna", OK), (route, "anna_admin", "anna", OK)]
    CASES += [(route, "read", "anna", 403), (route, "rw", "anna", 403)]
    CASES += [(route, "reports", "anna", 403)]
    CASES += [(route, "anna_pages", "bob", 404), (route, "anna_admin", "bob", 404)]
# A key restricted to handles cannot make a new handle (it would be out of its sight).
CASES += [("handles.create", "pages", "anna", OK), ("handles.create", "admin", "bob", OK)]
CASES += [("handles.create", "anna_pages", "anna", 403), ("handles.create", "read", "anna", 403)]
CASES += [("handles.create", "anna_admin", "anna", 403), ("handles.create", "reports", "anna", 403)]
for route in REPORTS:
    CASES += [(route, "reports", "anna", OK), (route, "reports", "bob", OK)]
    CASES += [(route, "admin", "bob", OK), (route, "anna_admin", "anna", OK)]
    CASES += [(route, "anna_admin", "bob", 404)]
    CASES += [(route, "read", "anna", 403), (route, "rw", "anna", 403)]
    CASES += [(route, "pages", "anna", 403)]
for route in WEBHOOKS:
    CASES += [(route, "admin", "anna", OK), (route, "admin", "bob", OK)]
    CASES += [(route, "anna_admin", "anna", OK)]
    CASES += [(route, "rw", "anna", 403), (route, "reports", "anna", 403)]
    CASES += [(route, "pages", "anna", 403)]
    if route not in {"webhooks.list", "webhooks.create"}:
        CASES += [(route, "anna_admin", "bob", 404)]


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values) for value in template]
    return template


async def _check(
    client: httpx.AsyncClient,
    world: World,
    values: dict[str, dict[str, str]],
    case: tuple[str, str, str, int | str],
) -> str | None:
    """None when the route answers as the table says, else what went wrong."""
    route, credential, target, expected = case
    method, url, body, success = ROUTES[route]
    if credential in BAD_CREDENTIALS:
        header = BAD_CREDENTIALS[credential]
        headers = {"Authorization": header} if header is not None else {}
    else:
        headers = bearer(world.keys[credential])
    response = await client.request(
        method, _fill(url, values[target]), json=_fill(body, values[target]), headers=headers
    )
    status = success if expected == OK else expected
    assert isinstance(status, int), case
    problems = []
    if response.status_code != status:
        problems.append(f"status {response.status_code} != {status}: {response.text[:200]}")
    if status == 401 and response.headers.get("www-authenticate") != 'Bearer realm="leadlink"':
        problems.append("no WWW-Authenticate")
    if status >= 400 and response.headers.get("content-type") != "application/problem+json":
        problems.append(f"content-type {response.headers.get('content-type')}")
    if status == 404 and "other@example.com" in response.text:
        problems.append("a 404 shows the hidden lead")
    return f"{case}: {'; '.join(problems)}" if problems else None


async def _more_world(session: AsyncSession, world: World) -> dict[str, dict[str, str]]:
    """The keys, routes, webhook endpoints and deliveries the table needs beyond `world`."""
    world.keys["pages"] = await issue_key(session, MORE_KEYS["pages"])
    world.keys["anna_pages"] = await issue_key(session, MORE_KEYS["anna_pages"], [world.anna])
    extra: dict[str, dict[str, str]] = {}
    for name, handle, page in [
        ("anna", world.anna, world.anna_page),
        ("bob", world.bob, world.bob_page),
    ]:
        route = await links.add_route(session, handle, source="youtube", page_slug=page.slug)
        endpoint, _secret = await webhooks.create_endpoint(
            session,
            url=f"https://1.1.1.1/hooks/{name}",
            event_types=[],
            description=name,
            visible=frozenset({handle.id}),
            cipher=cipher_for(TEST_SECRET),
            allow_private=True,
        )
        delivery = await webhooks.ping(session, endpoint.id, visible=None)
        extra[name] = {
            "route": str(route.id),
            "webhook": str(endpoint.id),
            "delivery": str(delivery.id),
        }
    await session.commit()
    return extra


async def test_access_table(
    client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession, world: World
) -> None:
    """Every case runs in a savepoint rolled back afterwards, so each starts from `world`."""
    key_id = str(await world.key_id(session, "read"))
    extra = await _more_world(session, world)
    values = {
        "anna": {
            "handle": "anna",
            "page": world.anna_page.slug,
            "lead": str(world.anna_lead.id),
            "email": "fan@example.com",
            "key": key_id,
            **extra["anna"],
        },
        "bob": {
            "handle": "bob",
            "page": world.bob_page.slug,
            "lead": str(world.bob_lead.id),
            "email": "other@example.com",
            "key": key_id,
            **extra["bob"],
        },
    }
    failures = []
    for case in CASES:
        savepoint = await connection.begin_nested()
        try:
            failure = await _check(client, world, values, case)
        finally:
            await savepoint.rollback()
        if failure:
            failures.append(failure)
    assert not failures, f"{len(failures)} of {len(CASES)} cases:\n" + "\n".join(failures)
    assert len(CASES) > 500


def test_the_table_covers_every_api_route(app: Any) -> None:
    documented = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }
    in_table = {(method, url.split("?")[0]) for method, url, _body, _status in ROUTES.values()}
    templates = {(method, re.sub(r"\{[a-z_]+\}", "{}", path)) for method, path in documented}
    covered = {(method, re.sub(r"\{[a-z_]+\}", "{}", path)) for method, path in in_table}
    assert templates == covered


async def test_a_restricted_key_cannot_tell_another_handles_lead_from_a_missing_one(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = bearer(world.keys["anna_rw"])
    hidden = await client.get(f"/api/v1/leads/{world.bob_lead.id}", headers=headers)
    missing = await client.get("/api/v1/leads/987654321", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"]
    assert hidden.json()["title"] == missing.json()["title"]


async def test_a_restricted_key_lists_and_exports_only_its_handles_leads(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = bearer(world.keys["anna_rw"])
    listed = (await client.get("/api/v1/leads", headers=headers)).json()
    assert [item["email"] for item in listed["items"]] == ["fan@example.com"]
    person = (
        await client.get("/api/v1/leads/export?email=other@example.com", headers=headers)
    ).json()
    assert person["leads"] == []
    exported = await client.get("/api/v1/leads/export.ndjson", headers=headers)
    assert "other@example.com" not in exported.text
    assert "fan@example.com" in exported.text
