"""The app as the tests build it: `create_app`, sharing one OpenAPI document between apps with the
same routes.

The app reads its own OpenAPI document while it serves (unknown query parameters are refused,
a 405 lists the allowed methods), and FastAPI builds it on first use: ~0.2 s, once per process
in production but once per test here, where every test builds its own app. That was the
largest cost of the API tests. Apps with the same routes and metadata get the same document,
so the first one built in this process serves the others; `assert_shared_openapi_unchanged`
(run at the end of the session) fails if a test changed it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.main import create_app

__all__ = ["assert_shared_openapi_unchanged", "build_app"]

_Fingerprint = tuple[Any, ...]
_shared: dict[_Fingerprint, dict[str, Any]] = {}
_pristine: dict[_Fingerprint, dict[str, Any]] = {}


def _route_key(route: Any) -> tuple[Any, ...]:
    # An included router is kept as it was included (FastAPI builds each route's state on
    # first use, and walking the effective routes would build them all): key it by the router,
    # its prefix and its own routes.
    router = getattr(route, "original_router", None)
    if router is not None:
        prefix = getattr(getattr(route, "include_context", None), "prefix", None)
        return ("router", id(router), prefix, tuple(_route_key(r) for r in router.routes))
    endpoint = getattr(route, "endpoint", None)
    return (
        type(route).__name__,
        getattr(route, "path", None),
        tuple(sorted(getattr(route, "methods", None) or ())),
        getattr(endpoint, "__module__", None),
        getattr(endpoint, "__qualname__", None),
    )


def _fingerprint(app: FastAPI) -> _Fingerprint:
    """What the OpenAPI document is made of: the metadata and every route."""
    metadata = (app.title, app.version, app.summary, app.description, app.openapi_version)
    routes = tuple(_route_key(route) for route in app.routes)
    return (metadata, tuple(app.servers or ()), app.openapi_url, routes)


def build_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """`create_app(settings, database=…)`, its OpenAPI document shared with identical apps."""
    app = create_app(settings, database=database)
    key = _fingerprint(app)
    if key in _shared:
        document = _shared[key]
        # FastAPI's documented way to supply the document (as in "Extending OpenAPI").
        app.openapi = lambda: document  # type: ignore[method-assign]
    else:
        _shared[key] = app.openapi()
        _pristine[key] = copy.deepcopy(_shared[key])
    return app


def assert_shared_openapi_unchanged() -> None:
    for key, document in _shared.items():
        assert document == _pristine[key], "a test changed the shared OpenAPI document"
