"""Logging set-up and the one-line-per-request access log (a pure ASGI middleware)."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

__all__ = ["RequestLogMiddleware", "configure_logging", "log_request", "printable"]

# A fixed name, not the module's: operators filter the access log on it.
access_logger = logging.getLogger("leadlink.access")
MAX_LOGGED_PATH = 300


def printable(value: str, limit: int = MAX_LOGGED_PATH) -> str:
    """A hostile string made safe for one log line: control characters escaped, length capped."""
    value = value[:limit]
    if value.isprintable():
        return value
    return value.encode("unicode_escape").decode("ascii")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with `extra={"fields": {...}}` are merged."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every readiness check at INFO; its warnings still come through.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    # httpx logs every request's URL at INFO, query string included: YouTube's API key travels
    # there (`key=`), and no provider's key may reach the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class RequestLogMiddleware:
    """Logs method, path, status and duration of every HTTP request in one line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            log_request(scope, status, started)


def log_request(scope: Scope, status: int, started: float) -> None:
    """The access log line of one request (at INFO), `started` being its `time.perf_counter()`."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = (time.perf_counter() - started) * 1000
    method = scope["method"]
    path = printable(scope["path"])
    access_logger.info(
        "%s %s %d %.1fms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "fields": {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(duration_ms, 2),
            }
        },
    )
