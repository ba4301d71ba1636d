"""The application factory and its lifespan, which owns the database engine and the workers.

Nothing connects at import time: `create_app(settings)` builds the app, and the lifespan opens
the engine, starts the visit writer, the opt-in writer and the outbox worker with the visit
retention task and the platform poller (unless `LEADLINK_OUTBOX_IN_PROCESS` is false) on
startup, and flushes and disposes of them on shutdown.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app import __version__
from app.admin import views as admin_views
from app.admin.sessions import SessionCodec
from app.api import router as api_router
from app.api_keys.middleware import ApiBodyGate
from app.assets import install_assets
from app.config import Settings, get_settings
from app.db import Database, create_engine
from app.draining import Drain
from app.errors import install_error_handlers
from app.health import views as health_views
from app.leads import views as leads_views
from app.leads.middleware import OptInMiddleware
from app.leads.opt_in_writer import OptInWriter
from app.leads.tokens import LeadLinks, LeadTokens
from app.links.middleware import OneLinkMiddleware
from app.links.one_link import OneLink
from app.links.retention_task import VisitRetention
from app.observability import RequestLogMiddleware, configure_logging
from app.openapi import add_problem_schemas
from app.outbox_handlers import outbox_worker
from app.pages import views as pages_views
from app.platforms.poller import PlatformPoller
from app.rate_limits import RateLimiter
from app.security_headers import SecurityHeadersMiddleware
from app.shop import views as shop_views

__all__ = ["LeadlinkApp", "app_factory", "create_app", "front_layers"]


def front_layers(fastapi: ASGIApp, state: State) -> ASGIApp:
    """The layers in front of FastAPI, listed outermost first; each wraps the ones below it.

    1. The one link's pages (`GET /@handle…`, `GET /p/{slug}`), which add the security headers
       and write their log line themselves, so a social click skips every layer below.
    2. The request log (one line per request).
    3. The security headers (CSP, nosniff, Referrer-Policy, …).
    4. The opt-in form post (`POST /p/{slug}`).
    5. The API body gate: an `/api/v1` body over the limit or without a valid key is refused
       before it is read.
    Then FastAPI: its error, telemetry and body-limit middlewares, routing, dependencies.
    """
    layers: list[Callable[[ASGIApp], ASGIApp]] = [
        lambda inner: OneLinkMiddleware(inner, state=state),
        RequestLogMiddleware,
        SecurityHeadersMiddleware,
        lambda inner: OptInMiddleware(inner, state=state),
        lambda inner: ApiBodyGate(inner, state=state),
    ]
    app = fastapi
    for wrap in reversed(layers):
        app = wrap(app)
    return app


class LeadlinkApp(FastAPI):
    """FastAPI with the hottest paths in front of its whole stack (`front_layers`).

    A social click costs about as much as FastAPI's generic layers would add to it, so it skips
    them; everything else is plain FastAPI.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.front = front_layers(super().__call__, self.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        # The error responses refer to one problem schema, which no route's model brings in.
        if self.openapi_schema is None:
            self.openapi_schema = add_problem_schemas(super().openapi())
        return self.openapi_schema


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    freeze_heap: bool = False,
    drain_on_sigterm: bool = False,
) -> FastAPI:
    """Build the ASGI app. Tests pass a `database` bound to a connection they roll back.

    `freeze_heap` (the served process) moves everything alive after startup out of the garbage
    collector's sight (`gc.freeze()`): the modules, models and compiled templates never become
    garbage, and without it every full collection walked them: a long pause in a request now
    and then (docs/bench.md, "Measured design decisions").

    `drain_on_sigterm` (the served process) installs the drain of `LEADLINK_SHUTDOWN_DRAIN_SECONDS`
    (app/draining.py); an app under test never touches its process's signal handlers.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database or Database(create_engine(settings))
        one_link = OneLink(settings, owned)
        app.state.database = owned
        app.state.one_link = one_link
        app.state.forget_public_caches = one_link.resolver.invalidate_after_commit
        outbox = outbox_worker(owned, settings)
        app.state.outbox = outbox
        opt_ins = OptInWriter(owned, app.state.lead_links)
        app.state.opt_in_writer = opt_ins
        opt_ins.start()
        if not owned.single_connection:
            # On one shared connection (the tests' rolled-back transaction) a background task
            # would interleave with the test's own statements: tests flush explicitly.
            one_link.writer.start()
        # The process that delivers the outbox also prunes raw visits (once a day, whoever
        # claims the day first), makes the coming months' partitions, and fetches the
        # platforms' likes and followers (once a day per connection, whoever claims it).
        housekeeping = (VisitRetention(owned, settings), PlatformPoller(owned, settings))
        app.state.platform_poller = housekeeping[1]
        if settings.outbox_in_process and not owned.single_connection:
            for task in housekeeping:
                task.start()
        if settings.outbox_in_process:
            outbox.start()
        if drain_on_sigterm:
            app.state.drain.install()
        if freeze_heap:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await opt_ins.stop()
            await outbox.stop()
            for task in housekeeping:
                await task.stop()
            await one_link.writer.stop()
            await owned.dispose()

    app = LeadlinkApp(
        title="leadlink",
        version=__version__,
        summary="One link for every social bio: opt-in pages, like-to-lead reports, CRM sync.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by app.assets from local files
        redoc_url=None,
        # FastAPI's native OpenTelemetry costs time on every request even unconfigured;
        # leadlink exports Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.drain = Drain(settings.shutdown_drain_seconds)
    app.state.lead_links = LeadLinks(
        settings.base_url, LeadTokens(settings.secret_key.get_secret_value())
    )
    app.state.rate_limiter = RateLimiter(settings)
    app.state.admin_sessions = SessionCodec(
        settings.secret_key.get_secret_value(), settings.base_url
    )
    install_error_handlers(app)
    app.include_router(health_views.router)
    app.include_router(leads_views.router)
    app.include_router(pages_views.router)
    app.include_router(admin_views.router)
    app.include_router(api_router)
    app.include_router(shop_views.router)
    install_assets(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory app.main:app_factory` (settings from the environment)."""
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings, freeze_heap=True, drain_on_sigterm=True)
