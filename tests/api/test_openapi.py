"""`/openapi.json` documents every `/api/v1` operation: the bearer scheme, examples for every
schema, and problem+json errors (so generated clients and schemathesis know the contract)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import fetch_openapi


async def test_every_api_operation_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ll_…",
        "description": schemes["ApiKey"]["description"],
    }
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith(("/api/v1/leads", "/api/v1/keys"))
        for method, operation in item.items()
    ]
    assert len(operations) == 12
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["security"] == [{"ApiKey": []}], where
        assert operation.get("summary"), where
        responses = operation["responses"]
        for status in ("401", "403"):
            assert "application/problem+json" in responses[status]["content"], where
        if "422" in responses:
            assert "application/problem+json" in responses["422"]["content"], where
            assert "application/json" not in responses["422"]["content"], where
        if method in {"post", "patch", "delete"}:
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, where

    schemas: dict[str, Any] = spec["components"]["schemas"]
    for name in [
        "LeadRead",
        "LeadCreate",
        "LeadUpdate",
        "LeadList",
        "PersonExport",
        "ApiKeyCreate",
        "ApiKeyCreated",
        "ApiKeyRead",
        "ApiKeyList",
    ]:
        assert schemas[name].get("examples"), name


async def test_a_wrong_method_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # FastAPI makes one route per method; the 405 must still list them all.
    for path, allowed in [
        ("/api/v1/leads", "GET, POST"),
        ("/api/v1/leads/1", "GET, PATCH, DELETE"),
        ("/api/v1/keys/1/revoke", "POST"),
        ("/api/v1/leads/export", "GET"),  # not the methods of /api/v1/leads/{lead_id}
    ]:
        response = await client.options(path)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.headers["content-type"] == "application/problem+json"


OPERATION_ID = re.compile(r"^[a-z]+(-[a-z]+)*$")
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    ]


async def test_every_operation_has_a_short_stable_operation_id(tmp_path: Path) -> None:
    # Generated clients name their functions after these: `leads-list` becomes `leads_list`.
    spec = await fetch_openapi(tmp_path)
    operations = _operations(spec)
    ids = [operation.get("operationId", "") for _path, _method, operation in operations]
    assert len(operations) == 39
    assert [i for i in ids if not OPERATION_ID.fullmatch(i)] == []
    assert len(set(ids)) == len(ids)
    for path, method, operation in operations:
        # `<collection>-<action>`: the collection is the path's first segment.
        collection = path.removeprefix("/api/v1/").split("/")[0]
        assert operation["operationId"].startswith(f"{collection}-"), f"{method} {path}"
    by_route = {f"{method.upper()} {path}": op["operationId"] for path, method, op in operations}
    assert by_route["GET /api/v1/leads"] == "leads-list"
    assert by_route["DELETE /api/v1/leads/{lead_id}"] == "leads-erase"
    assert by_route["POST /api/v1/erasures"] == "erasures-create"
    assert by_route["POST /api/v1/webhooks/{webhook_id}/rotate-secret"] == "webhooks-rotate-secret"


async def test_every_error_response_refers_to_the_one_problem_schema(tmp_path: Path) -> None:
    spec = await fetch_openapi(tmp_path)
    for path, method, operation in _operations(spec):
        errors = {
            status: response
            for status, response in operation["responses"].items()
            if status.startswith(("4", "5"))
        }
        assert {"400", "401", "403", "422"} <= set(errors), f"{method} {path}"
        for status, response in errors.items():
            where = f"{method.upper()} {path} {status}"
            assert list(response["content"]) == ["application/problem+json"], where
            assert response["content"]["application/problem+json"]["schema"] == PROBLEM, where
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    assert schemas["FieldError"]["required"] == ["field", "message"]
    # No per-operation copies (FastAPI's own `HTTPValidationError` included).
    assert [name for name in schemas if "Problem" in name or "ValidationError" in name] == [
        "Problem"
    ]
