"""The outbox handler of kind `webhook`: signs the event, POSTs it to the endpoint, and writes
what happened to the delivery log.

2xx: delivered. `410 Gone`: the endpoint is disabled and the event is not retried. Anything
else (an error status, a timeout, a refused connection, an address no longer allowed) is a
`TemporaryFailure` for the worker's back-off, honouring `Retry-After`; the attempt that spends
the retry budget marks the delivery failed and the endpoint `unhealthy`, logged as an error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
from sqlalchemy import update

from app import metrics
from app.config import Settings
from app.db import Database, utcnow
from app.delivery.exceptions import PermanentFailure, TemporaryFailure
from app.delivery.models import OutboxMessage
from app.delivery.worker import RetryPolicy
from app.webhooks import signing
from app.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.targets import TargetRefused, resolve_target

__all__ = [
    "MAX_RESPONSE_BODY",
    "REQUEST_TIMEOUT_SECONDS",
    "USER_AGENT",
    "WEBHOOK_RETRY_POLICY",
    "WebhookSender",
    "parse_retry_after",
]

# 30 s, 1 min … 64 min, then every 2 h: the 44th and last attempt comes after at least 3 days
# (a CRM down over a weekend still gets its events); then the endpoint is marked unhealthy.
WEBHOOK_RETRY_POLICY = RetryPolicy(max_attempts=44, first_delay=30.0, max_delay=7200.0)

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS: Final = 10.0
MAX_RESPONSE_BODY: Final = 1024  # bytes of the response kept in the log and the database
LOGGED_BODY: Final = 200  # characters of the response body quoted in a log line
USER_AGENT: Final = "leadlink-webhooks/1"
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a `Retry-After` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one POST produced: a status code (and body), or an error before any response."""

    status_code: int | None
    body: str
    latency_ms: int
    error: str
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The process's one TLS context for webhook targets (the system CA bundle, no proxy
    settings): loading the bundle costs ~40 ms, once, not once per sender."""
    return httpx.create_ssl_context(trust_env=False)


def _quote(text: str, limit: int) -> str:
    """A response body fit for an error message and a log line: one line, cut to `limit`, and
    without email addresses (a receiver may echo the lead's; log lines outlive erasure)."""
    line = _ADDRESS.sub("<address>", " ".join(text.split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


class WebhookSender:
    """Delivers outbox messages of kind `webhook`.

    `max_attempts` must be the worker's retry budget for kind `webhook`: the attempt that
    reaches it is the last, and the handler marks the endpoint unhealthy then.
    """

    def __init__(self, database: Database, settings: Settings, *, max_attempts: int) -> None:
        self.database = database
        self.allow_private = settings.webhook_allow_private
        self.cipher = signing.cipher_for(settings.secret_key.get_secret_value())
        self.max_attempts = max_attempts
        # One TLS context for every attempt; each attempt has a client of its own, because a
        # pooled connection is keyed by address and must never carry another host's request.
        self._tls = _tls_context()

    async def __call__(self, message: OutboxMessage) -> None:
        payload: dict[str, Any] = message.payload
        delivery_id = int(payload["delivery_id"])
        async with self.database.session(write=False) as session:
            endpoint = await session.get(WebhookEndpoint, int(payload["endpoint_id"]))
            delivery = await session.get(WebhookDelivery, delivery_id)
        if endpoint is None or delivery is None:
            logger.info("webhook delivery %d dropped: its endpoint was deleted", delivery_id)
            return
        if endpoint.status == EndpointStatus.DISABLED.value:
            await self._settle(
                delivery_id,
                message,
                DeliveryStatus.FAILED,
                error=f"not sent: the endpoint is disabled ({endpoint.disabled_reason})",
            )
            logger.info(
                "webhook delivery %d not sent: endpoint %d disabled", delivery_id, endpoint.id
            )
            return

        try:
            secrets = self._secrets(endpoint)
        except signing.SecretUnreadable as exc:
            attempt = _Attempt(None, "", 0, str(exc))
        else:
            attempt = await self._post(endpoint.url, payload, secrets)
        await self._conclude(message, endpoint, delivery_id, attempt)

    def _secrets(self, endpoint: WebhookEndpoint) -> list[str]:
        secrets = [self.cipher.decrypt(endpoint.secret)]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret and expires is not None and expires > utcnow():
            secrets.append(self.cipher.decrypt(endpoint.previous_secret))
        return secrets

    async def _post(self, url: str, payload: dict[str, Any], secrets: list[str]) -> _Attempt:
        body: str = payload["body"]
        event_id: str = payload["event_id"]
        timestamp = int(time.time())
        started = time.monotonic()

        def elapsed_ms() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                target = await resolve_target(url, allow_private=self.allow_private)
                headers = {
                    "Host": target.host_header,
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    # Compressed answers could inflate far beyond the 1 KB that is read.
                    "Accept-Encoding": "identity",
                    "Leadlink-Id": event_id,
                    "Leadlink-Timestamp": str(timestamp),
                    "Leadlink-Signature": signing.signature_header(
                        event_id, timestamp, body, secrets
                    ),
                }
                async with httpx.AsyncClient(
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    follow_redirects=False,
                    # Proxies from the environment would connect by name, not to the address
                    # that was checked.
                    trust_env=False,
                    verify=self._tls,
                    limits=httpx.Limits(max_keepalive_connections=0),
                ) as client:
                    request = client.build_request(
                        "POST",
                        target.url,
                        content=body.encode("utf-8"),
                        headers=headers,
                        extensions={"sni_hostname": target.sni_hostname},
                    )
                    response = await client.send(request, stream=True)
                    try:
                        kept = await _read_start(response)
                    finally:
                        await response.aclose()
        except TargetRefused as exc:
            return _Attempt(None, "", elapsed_ms(), f"refused: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return _Attempt(
                None, "", elapsed_ms(), f"timed out after {REQUEST_TIMEOUT_SECONDS:.0f} s"
            )
        except httpx.HTTPError as exc:
            return _Attempt(None, "", elapsed_ms(), f"{type(exc).__name__}: {exc}")

        text = kept.decode("utf-8", errors="replace")
        status = response.status_code
        if 200 <= status < 300:
            return _Attempt(status, text, elapsed_ms(), "")
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += f" (redirects are not followed: {response.headers.get('Location', '')})"
        if text:
            error += f": {_quote(text, LOGGED_BODY)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=utcnow())
        return _Attempt(status, text, elapsed_ms(), error, retry_after)

    async def _conclude(
        self, message: OutboxMessage, endpoint: WebhookEndpoint, delivery_id: int, attempt: _Attempt
    ) -> None:
        if attempt.delivered:
            await self._settle(delivery_id, message, DeliveryStatus.DELIVERED, attempt)
            metrics.webhook_deliveries.labels("delivered").inc()
            if endpoint.status == EndpointStatus.UNHEALTHY.value:
                await self._set_endpoint(endpoint.id, EndpointStatus.ACTIVE, None)
                logger.info("webhook endpoint %d is healthy again", endpoint.id)
            return

        if attempt.status_code == 410:
            reason = f"the receiver answered 410 Gone on {utcnow():%Y-%m-%d %H:%M} UTC"
            await self._settle(delivery_id, message, DeliveryStatus.FAILED, attempt)
            await self._set_endpoint(endpoint.id, EndpointStatus.DISABLED, reason)
            metrics.webhook_deliveries.labels("gone").inc()
            logger.warning("webhook endpoint %d disabled: %s", endpoint.id, reason)
            raise PermanentFailure(f"410 Gone: endpoint {endpoint.id} disabled")

        if message.attempts >= self.max_attempts:
            await self._settle(delivery_id, message, DeliveryStatus.FAILED, attempt)
            reason = f"delivery {delivery_id} failed after {message.attempts} attempts"
            await self._set_endpoint(endpoint.id, EndpointStatus.UNHEALTHY, reason)
            metrics.webhook_deliveries.labels("failed").inc()
            logger.error(
                "webhook endpoint %d is unhealthy: event %s (%s) could not be delivered after "
                "%d attempts; last error: %s",
                endpoint.id,
                message.payload["event_id"],
                message.payload["event_type"],
                message.attempts,
                attempt.error,
            )
        else:
            await self._settle(delivery_id, message, DeliveryStatus.PENDING, attempt)
            metrics.webhook_deliveries.labels("retry").inc()
        raise TemporaryFailure(attempt.error, retry_after=attempt.retry_after)

    async def _settle(
        self,
        delivery_id: int,
        message: OutboxMessage,
        status: DeliveryStatus,
        attempt: _Attempt | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """Write the attempt to the delivery log. A failure to write is logged, not raised:
        the request was made, and raising would make the worker send it again."""
        now = utcnow()
        values: dict[str, Any] = {"status": status.value, "last_attempt_at": now}
        if attempt is not None:
            values |= {
                "attempts": message.attempts,
                "last_status_code": attempt.status_code,
                "last_latency_ms": attempt.latency_ms,
                "last_error": attempt.error[:1000] or None,
                "response_body": attempt.body or None,
            }
        if error is not None:
            values["last_error"] = error[:1000]
        if status is DeliveryStatus.DELIVERED:
            values["delivered_at"] = now
        try:
            async with self.database.session() as session:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id)
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        except Exception:
            logger.exception("webhook delivery %d: recording the attempt failed", delivery_id)

    async def _set_endpoint(
        self, endpoint_id: int, status: EndpointStatus, reason: str | None
    ) -> None:
        try:
            async with self.database.session() as session:
                await session.execute(
                    update(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id == endpoint_id,
                        # Never undo a disable (by the API or a 410) from a stale attempt.
                        WebhookEndpoint.status != EndpointStatus.DISABLED.value,
                    )
                    .values(status=status.value, disabled_reason=reason, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        except Exception:
            logger.exception("webhook endpoint %d: recording its status failed", endpoint_id)


async def _read_start(response: httpx.Response) -> bytes:
    """Up to `MAX_RESPONSE_BODY` bytes of the body; the rest is never read."""
    kept = bytearray()
    async for chunk in response.aiter_raw():
        kept += chunk[: MAX_RESPONSE_BODY - len(kept)]
        if len(kept) >= MAX_RESPONSE_BODY:
            break
    return bytes(kept)
