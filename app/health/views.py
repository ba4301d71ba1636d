"""`/healthz` says the process is alive; `/readyz` says it can serve (database at head, not
draining before a stop); `/metrics` exposes Prometheus metrics, to a loopback peer or with
`LEADLINK_METRICS_TOKEN`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app import migrations
from app.config import Settings
from app.db import Database
from app.draining import Drain
from app.errors import NotFound, Unauthorized
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
    drain: Drain = request.app.state.drain
    if drain.draining:
        # Stopping: the proxy should send new requests elsewhere (app/draining.py).
        return JSONResponse({"status": "shutting down"}, status_code=503)
    database: Database = request.app.state.database
    try:
        state = await asyncio.wait_for(_schema_state(database), READINESS_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to reach the database means "not ready"
        logger.warning("readiness check failed: %s", type(exc).__name__)
        state = "database unreachable"
    status_code = 200 if state == "ok" else 503
    return JSONResponse({"status": state}, status_code=status_code)


def _is_loopback(peer: str | None) -> bool:
    try:
        return peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _is_local_scrape(request: Request) -> bool:
    """A loopback socket peer that no proxy forwarded: a reverse proxy on the same machine also
    connects from loopback, but it names the visitor in one of these headers."""
    peer = request.client.host if request.client else None
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    return _is_loopback(peer) and not forwarded


def _may_read_metrics(request: Request, settings: Settings) -> bool | None:
    """True to serve, False for a wrong token (401), None to pretend there is nothing (404).

    With `LEADLINK_METRICS_TOKEN` set, only `Authorization: Bearer <token>` reads the counts.
    Without it, only the socket peer on loopback (a Prometheus on the same machine) does:
    `X-Forwarded-For` never counts, and behind a proxy the peer is the proxy, so set a token.
    """
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:
        return True if _is_local_scrape(request) else None
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    allowed = _may_read_metrics(request, settings)
    if allowed is None:
        raise NotFound()
    if not allowed:
        raise Unauthorized("Wrong metrics token.")
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
