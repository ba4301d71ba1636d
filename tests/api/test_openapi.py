"""`/openapi.json` documents every `/api/v1` operation: the bearer scheme, examples for every
schema, and problem+json errors (so generated clients and schemathesis know the contract)."""

from __future__ import annotations

from typing import Any

import httpx


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
