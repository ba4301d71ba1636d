"""Domain errors that carry their HTTP status, and the one handler that renders every error.

Under `/api` (and `/hooks`, which shops call) an error is `application/problem+json` (RFC 9457)
with an `errors` list naming each bad field; everywhere else it is a small HTML page a visitor
can read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app import patterns
from app.openapi import allowed_methods
from app.templating import render

__all__ = [
    "AppError",
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "ValidationFailed",
    "error_response",
    "install_error_handlers",
    "is_database_outage",
    "outage_page",
    "outage_reason",
]

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class AppError(Exception):
    """Base of every error a request can end with on purpose."""

    status_code: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors)
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status_code = 400
    title = "Bad Request"


class Unauthorized(AppError):
    status_code = 401
    title = "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="leadlink"'})


class Forbidden(AppError):
    status_code = 403
    title = "Forbidden"


class NotFound(AppError):
    status_code = 404
    title = "Not Found"


class Conflict(AppError):
    status_code = 409
    title = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    title = "Payload Too Large"


class ValidationFailed(AppError):
    status_code = 422
    title = "Unprocessable Content"


class TooManyRequests(AppError):
    status_code = 429
    title = "Too Many Requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_seconds))})


class ServiceUnavailable(AppError):
    status_code = 503
    title = "Service Unavailable"


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith(("/api/", "/hooks/")) or path == "/openapi.json"


def render_error(
    request: Request,
    status_code: int,
    title: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    if _is_api(request):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status_code,
            "detail": detail,
            "instance": request.url.path,
        }
        if errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
        return JSONResponse(body, status_code, headers=dict(headers or {}), media_type=PROBLEM_JSON)
    html = render("error.html", status_code=status_code, title=title, detail=detail, errors=errors)
    return HTMLResponse(html, status_code, headers=dict(headers or {}))


def _field_name(location: Sequence[int | str]) -> str:
    # ("body", "email") -> "email"; ("query", "limit") -> "limit"; keep nested paths dotted.
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _handle_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return render_error(
        request, exc.status_code, exc.title, exc.detail, errors=exc.errors, headers=exc.headers
    )


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = "There is nothing at this address."
    if exc.status_code == 405 and (allowed := allowed_methods(request)):
        headers["Allow"] = allowed
    return render_error(request, exc.status_code, title, detail, headers=headers)


def _message(error: Mapping[str, Any]) -> str:
    # A broken pattern is described in words (`app.patterns`), not by quoting the expression.
    if error.get("type") == "string_pattern_mismatch":
        return patterns.problem_with(str(error.get("ctx", {}).get("pattern", "")))
    return str(error.get("msg", ""))


async def _handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(_field_name(e.get("loc", ())), _message(e)) for e in exc.errors()]
    detail = "Some fields are not valid: " + ", ".join(sorted({e.field for e in errors}))
    return render_error(request, 422, ValidationFailed.title, detail, errors=errors)


OUTAGE_DETAIL = "The service cannot reach its database right now; try again shortly."
OUTAGE_RETRY_AFTER = "5"


def outage_page() -> str:
    """The HTML a visitor sees while the database is unreachable."""
    return render(
        "error.html",
        status_code=503,
        title=ServiceUnavailable.title,
        detail=OUTAGE_DETAIL,
        errors=(),
    )


def outage_reason(exc: BaseException) -> str:
    """What the driver said, for the log: "database or disk is full", "attempt to write a
    readonly database", a refused connection. The driver's own error (`orig`) carries no
    statement and no parameters, so no address reaches the log."""
    cause = getattr(exc, "orig", None) or exc
    words = " ".join(str(cause).split())[:200]
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


async def _handle_database_unavailable(request: Request, exc: Exception) -> Response:
    # A database that went away is an outage, not a bug: answer quickly with 503.
    logger.error("database unavailable: %s", outage_reason(exc))
    return render_error(
        request,
        503,
        ServiceUnavailable.title,
        OUTAGE_DETAIL,
        headers={"Retry-After": OUTAGE_RETRY_AFTER},
    )


def is_database_outage(exc: BaseException) -> bool:
    """A failure to reach the database (as opposed to a bug or a constraint violation)."""
    if isinstance(exc, DBAPIError):
        return isinstance(exc, OperationalError) or exc.connection_invalidated
    return isinstance(exc, (PoolTimeoutError, OSError))


async def _handle_dbapi_error(request: Request, exc: Exception) -> Response:
    if is_database_outage(exc):
        return await _handle_database_unavailable(request, exc)
    raise exc


CLIENT_CLOSED_REQUEST = 499  # nginx's code for a client that left before the answer


async def _handle_client_disconnect(request: Request, exc: Exception) -> Response:
    # A phone that lost signal mid-upload is not a server error: nothing was read, so nothing
    # was written; the request log line shows the 499 and nobody receives the body.
    logger.info("client disconnected before its request body arrived: %s", request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    AppError: _handle_app_error,
    StarletteHTTPException: _handle_http_exception,
    RequestValidationError: _handle_validation_error,
    PoolTimeoutError: _handle_database_unavailable,
    OSError: _handle_database_unavailable,
    DBAPIError: _handle_dbapi_error,
    ClientDisconnect: _handle_client_disconnect,
}


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the renderers above (no catch-all: bugs stay 500s)."""
    for exc_class, handler in _HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


async def error_response(request: Request, exc: Exception) -> Response:
    """What the installed handlers answer to `exc`, for the ASGI fast paths outside FastAPI's
    routing; an exception no handler takes (a bug) is raised again, to become a 500."""
    for exc_class in type(exc).__mro__:
        handler = _HANDLERS.get(exc_class)
        if handler is not None:
            return await handler(request, exc)
    raise exc
