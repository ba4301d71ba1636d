"""What every `/api/v1` operation documents besides its own models: the RFC 9457 problem body of
errors, as answered by `app.errors`, one `Problem` schema referenced by every error response,
with an example per status; the `Allow` header of a 405, which must list what `/openapi.json`
documents for the path; and the refusal of query parameters an operation does not document."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.routing import Match

__all__ = [
    "PROBLEM_REF",
    "PROBLEM_SCHEMAS",
    "add_problem_schemas",
    "allowed_methods",
    "problem_responses",
    "reject_unknown_query",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

PROBLEM_REF = "#/components/schemas/Problem"
# Components, not inline schemas: a generated client then has one `Problem` model for every
# error of every operation (inline copies become one model per operation and status, or none).
PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "An error (RFC 9457); `errors` names each field that was not accepted.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
        },
        "required": ["type", "title", "status", "detail"],
    },
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "description": "A field (or header) that was not accepted, and why.",
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        "required": ["field", "message"],
    },
}

_EXAMPLES: dict[int, tuple[str, str, str, list[dict[str, str]]]] = {
    400: ("Bad Request", "The request cannot be read.", "Bad request", []),
    401: ("Unauthorized", "Send an API key: `Authorization: Bearer ll_…`.", "No valid API key", []),
    403: ("Forbidden", "This API key lacks the 'leads:write' scope.", "Missing scope", []),
    404: ("Not Found", "There is no such lead.", "Not found (or not visible to this key)", []),
    409: (
        "Conflict",
        "A request with this Idempotency-Key is still being processed; retry in a moment.",
        "Conflict",
        [],
    ),
    422: (
        "Unprocessable Content",
        "Some fields are not valid: email",
        "Invalid input",
        [{"field": "email", "message": "This email address is not valid."}],
    ),
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting `application/problem+json` errors for `codes`."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        title, detail, description, errors = _EXAMPLES[code]
        example: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": code,
            "detail": detail,
            "instance": "/api/v1/leads",
        }
        if errors:
            example["errors"] = errors
        responses[code] = {
            "description": description,
            "content": {
                "application/problem+json": {"schema": {"$ref": PROBLEM_REF}, "example": example}
            },
        }
    return responses


def add_problem_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (an OpenAPI document) with the schemas `problem_responses` refers to."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in PROBLEM_SCHEMAS.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"a model named {name!r} hides the problem schema of that name")
    return document


def _template_match(template: str, path: str) -> int | None:
    """How many literal segments `template` (`/api/v1/leads/{lead_id}`) shares with `path`, or
    None when it does not match: the most literal template is the resource a path names."""
    template_parts = template.strip("/").split("/")
    path_parts = path.strip("/").split("/")
    if len(template_parts) != len(path_parts):
        return None
    literal = 0
    for expected, given in zip(template_parts, path_parts, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            if not given:
                return None
        elif expected == given:
            literal += 1
        else:
            return None
    return literal


def allowed_methods(request: Request) -> str | None:
    """The `Allow` header of a 405: the methods documented for the most specific path template
    matching the request (`/leads/export` is not `/leads/{lead_id}`), or, for routes kept out
    of the documentation, every method some route answers at the path. (Starlette names only
    the methods of the first route it tried, and FastAPI makes one route per method.)"""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    scored = [
        (score, template)
        for template in paths
        if (score := _template_match(template, request.url.path)) is not None
    ]
    if scored:
        documented = {method.upper() for method in paths[max(scored)[1]]}
        return ", ".join(method for method in METHODS if method in documented)
    routes = request.app.router.routes

    def answers(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return ", ".join(method for method in METHODS if answers(method)) or None


async def reject_unknown_query(request: Request) -> None:
    """A router dependency: a query parameter the operation does not document in
    `/openapi.json` is a 422 naming it. A misspelt filter (`updated_since=`) must not silently
    answer with every lead."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    scored = [
        (score, template)
        for template in paths
        if (score := _template_match(template, request.url.path)) is not None
    ]
    operation = paths[max(scored)[1]].get(request.method.lower()) if scored else None
    if operation is None:
        return
    documented = {
        parameter["name"]
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query"
    }
    unknown = sorted(set(request.query_params) - documented)
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown parameter."}
                for name in unknown
            ]
        )
