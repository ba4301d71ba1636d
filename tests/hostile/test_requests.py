"""The hostile request tables of cases.py, one test id per case: on every database backend
(`REQUESTS`), or once, on SQLite (`ONCE`: no backend changes their answer)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.cases import ADMIN_POSTS, BOLA, ONCE, REQUESTS, Case
from tests.hostile.harness import run_case
from tests.hostile.world import World


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in REQUESTS])
async def test_hostile_request(world: World, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    await run_case(world, case, caplog)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in ONCE])
async def test_hostile_request_once(
    http_world: World, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    await run_case(http_world, case, caplog)


def _template(path: str) -> str:
    """`/admin/pages/{page_id:int}/publish` and `/admin/pages/{guide_page_id}/publish` alike:
    `/admin/pages/{}/publish` (a query string dropped)."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, walking included routers as they were included."""
    for route in routes:
        router = getattr(route, "original_router", None)
        if router is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(router.routes, prefix + (getattr(context, "prefix", "") or ""))
            continue
        for method in getattr(route, "methods", None) or ():
            yield method, prefix + getattr(route, "path", "")


def test_the_csrf_table_has_every_admin_post(http_world: World) -> None:
    """A new POST of the admin UI needs a line in `ADMIN_POSTS` (its token-less, wrong-token,
    cross-site and anonymous cases); sign-in and invitations have cases of their own."""
    posts = {
        _template(path)
        for method, path in _routes(http_world.app.routes)
        if method == "POST" and path.startswith("/admin/")
    }
    own_cases = {"/admin/login", "/admin/invite/{}"}
    assert posts - own_cases == {_template(path) for path, _form in ADMIN_POSTS.values()}


def test_the_bola_table_has_every_api_route_with_an_id(http_world: World) -> None:
    """Every `/api/v1` operation that names a lead, page, handle, route, key, endpoint or
    delivery in its path is tried with another handle's key."""
    with_ids = {
        (method.upper(), _template(path))
        for path, item in http_world.app.openapi()["paths"].items()
        if "{" in path
        for method in item
    }
    tried = {(case.method, _template(case.path)) for case in BOLA}
    assert with_ids <= tried, sorted(with_ids - tried)
