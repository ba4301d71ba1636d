"""`leadlink serve` and `leadlink worker`: the long-running processes, which both refuse to
start on a database whose schema is missing or behind the code."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Annotated

import typer
import uvicorn

from app import migrations
from app.command import engine_or_fail, err, fail, run, settings_or_fail
from app.config import Settings, served_base_url
from app.db import Database
from app.http_protocol import CoalescingHttpToolsProtocol
from app.links.retention_task import VisitRetention
from app.observability import configure_logging
from app.outbox_handlers import outbox_worker
from app.platforms.poller import PlatformPoller

__all__ = ["serve", "worker"]


async def _schema_problem(settings: Settings) -> str | None:
    database = Database(engine_or_fail(settings))
    try:
        async with database.session(write=False) as session:
            revision = await migrations.current_revision(await session.connection())
    finally:
        await database.dispose()
    if revision is None:
        return "the database has no schema yet; run `leadlink migrate` first"
    if revision != migrations.head_revision():
        return (
            f"the database schema is at {revision} but this version needs "
            f"{migrations.head_revision()}; run `leadlink migrate`"
        )
    return None


def _settings_for_a_current_schema() -> Settings:
    settings = settings_or_fail()
    problem = run(_schema_problem(settings))
    if problem:
        fail(problem)
    return settings


def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Worker processes.")] = 1,
) -> None:
    """Serve leadlink over HTTP.

    The database schema must be current (`leadlink migrate`). uvicorn with uvloop and
    httptools; a response's head and body go out in one write. On SIGTERM the requests in
    flight finish and buffered visits are written; with LEADLINK_SHUTDOWN_DRAIN_SECONDS set,
    /readyz answers 503 for that long first, so a proxy moves traffic away.
    """
    settings = _settings_for_a_current_schema()
    configure_logging(settings)
    if "base_url" not in settings.model_fields_set:
        # The app (in each worker process) reads its settings from the environment: without
        # LEADLINK_BASE_URL, links in emails and the API point at the address served here.
        os.environ["LEADLINK_BASE_URL"] = served_base_url(host, port)
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


def worker() -> None:
    """Deliver the outbox (emails, webhooks) until stopped.

    Failed deliveries are retried. On SIGTERM or Ctrl-C the messages in hand are finished
    first. Once a day it also prunes raw visits older than LEADLINK_VISIT_RETENTION_DAYS
    (the rollups stay) and fetches each connected platform's likes and followers. For
    production, run N of these and set LEADLINK_OUTBOX_IN_PROCESS=false on the web processes.
    """
    settings = _settings_for_a_current_schema()
    configure_logging(settings)
    run(_deliver(settings))


async def _deliver(settings: Settings) -> None:
    database = Database(engine_or_fail(settings))
    outbox = outbox_worker(database, settings)
    retention = VisitRetention(database, settings)
    platforms = PlatformPoller(database, settings)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        outbox.request_stop()
        retention.request_stop()
        platforms.request_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    mail = (
        f"SMTP {settings.smtp_host}"
        if settings.smtp_host
        else "the admin outbox at /admin/emails (no SMTP host: nothing is sent)"
    )
    err.print(f"outbox worker started; email goes to {mail}", highlight=False)
    try:
        await asyncio.gather(outbox.run_forever(), retention.run_forever(), platforms.run_forever())
    finally:
        await database.dispose()
    err.print("outbox worker stopped")
