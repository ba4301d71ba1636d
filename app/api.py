"""The `/api/v1` parent router: every domain's API router under one prefix, with what all their
operations share (the problem responses, the unknown-query check, explicit operationIds)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from app.api_keys import api as api_keys_api
from app.leads import api as leads_api
from app.links import api as links_api
from app.openapi import problem_responses, reject_unknown_query
from app.pages import api as pages_api
from app.reports import api as reports_api
from app.webhooks import api as webhooks_api

__all__ = ["router"]


def _require_operation_id(route: APIRoute) -> str:
    # Called for a route without `operation_id=` when the app includes this router. Generated
    # clients name their methods after operationIds, so each one is chosen, not derived from a
    # Python function's name that a refactoring may change.
    raise TypeError(f"{route.path} ({route.name}) needs an explicit operation_id=")


router = APIRouter(
    prefix="/api/v1",
    # Every operation authenticates (401, 403), reads a request (400) and refuses unknown
    # query parameters (422).
    responses=problem_responses(400, 401, 403, 422),
    dependencies=[Depends(reject_unknown_query)],
    generate_unique_id_function=_require_operation_id,
)
for domain in (leads_api, api_keys_api, reports_api, webhooks_api, pages_api, links_api):
    router.include_router(domain.router)
