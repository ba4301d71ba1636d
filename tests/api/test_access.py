"""Who may call what: a table of (key, route, expected status) for every `/api/v1` route.

No key, a malformed, unknown or revoked key: 401 with `WWW-Authenticate`. A key without the
route's scope: 403 (`admin` has every scope). A key restricted to one handle: another handle's
lead or page is a 404, exactly like a lead that does not exist.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tests.api.conftest import World, bearer

# route: method, URL template, JSON body template, status on success
ROUTES: dict[str, tuple[str, str, dict[str, Any] | None, int]] = {
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
    "keys.list": ("GET", "/api/v1/keys", None, 200),
    "keys.get": ("GET", "/api/v1/keys/{key}", None, 200),
    "keys.create": ("POST", "/api/v1/keys", {"name": "CRM", "scopes": ["leads:read"]}, 201),
    "keys.revoke": ("POST", "/api/v1/keys/{key}/revoke", None, 200),
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
OK = "ok"
# Authorization headers that are not a usable key; `world.keys` names the real ones.
BAD_CREDENTIALS = {
    "none": None,
    "basic": "Basic dXNlcjpwYXNz",
    "not-ll": "Bearer sk_live_123",
    "unknown": "Bearer ll_" + "x" * 43,
    "empty": "Bearer ",
}

CASES: list[tuple[str, str, str, int | str]] = []
for route in ROUTES:
    CASES += [(route, credential, "anna", 401) for credential in BAD_CREDENTIALS]
    CASES += [(route, "revoked", "anna", 401), (route, "reports", "anna", 403)]
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
for route in KEYS:
    CASES += [(route, "admin", "anna", OK), (route, "rw", "anna", 403)]
    CASES += [(route, "anna_admin", "anna", 403)]


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


async def test_access_table(
    client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession, world: World
) -> None:
    """Every case runs in a savepoint rolled back afterwards, so each starts from `world`."""
    key_id = str(await world.key_id(session, "read"))
    values = {
        "anna": {
            "handle": "anna",
            "page": world.anna_page.slug,
            "lead": str(world.anna_lead.id),
            "email": "fan@example.com",
            "key": key_id,
        },
        "bob": {
            "handle": "bob",
            "page": world.bob_page.slug,
            "lead": str(world.bob_lead.id),
            "email": "other@example.com",
            "key": key_id,
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
    assert len(CASES) > 150


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
