"""`/healthz` says the process is alive; `/readyz` says it can serve (database at head);
`/metrics` exposes Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app import migrations
from app.db import Database
from app.metrics import CONTENT_TYPE_LATEST, render_metrics

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
READINESS_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _schema_state(database: Database) -> str:
    async with database.session(write=False) as session:
        connection = await session.connection()
        revision = await migrations.current_revision(connection)
    if revision is None:
        return "database has no schema; run `leadlink migrate`"
    if revision != migrations.head_revision():
        return f"database schema is at {revision}, expected {migrations.head_revision()}"
    return "ok"


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.database
    try:
        state = await asyncio.wait_for(_schema_state(database), READINESS_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to reach the database means "not ready"
        logger.warning("readiness check failed: %s", type(exc).__name__)
        state = "database unreachable"
    status_code = 200 if state == "ok" else 503
    return JSONResponse({"status": state}, status_code=status_code)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
