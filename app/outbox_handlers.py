"""What the outbox delivers in this version: the handler and retry policy of each message kind,
handed to every outbox worker (the app's lifespan and `leadlink worker` build theirs here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.config import Settings
from app.db import Database
from app.delivery.mail import EmailHandler, backend_from_settings
from app.delivery.models import OutboxKind
from app.delivery.worker import DEFAULT_RETRY_POLICY, Handler, OutboxWorker, RetryPolicy
from app.email_tools.sender import EMAIL_TOOL_RETRY_POLICY, EmailToolSender
from app.webhooks.sender import WEBHOOK_RETRY_POLICY, WebhookSender

__all__ = ["outbox_handlers", "outbox_policies", "outbox_worker"]


def outbox_policies(settings: Settings) -> dict[str, RetryPolicy]:
    """The retry policy of every kind, its first wait from `LEADLINK_OUTBOX_FIRST_RETRY_SECONDS`
    (the caps and the number of attempts are the kind's own)."""
    first = settings.outbox_first_retry_seconds
    return {
        OutboxKind.EMAIL.value: replace(DEFAULT_RETRY_POLICY, first_delay=first),
        OutboxKind.WEBHOOK.value: replace(WEBHOOK_RETRY_POLICY, first_delay=first),
        OutboxKind.EMAIL_TOOL.value: replace(EMAIL_TOOL_RETRY_POLICY, first_delay=first),
    }


def outbox_handlers(
    settings: Settings,
    database: Database,
    *,
    webhook_attempts: int,
    email_tool_attempts: int = EMAIL_TOOL_RETRY_POLICY.max_attempts,
) -> dict[str, Handler]:
    """The handler of every kind: email through the configured backend, webhooks signed and
    POSTed (the sender marks an endpoint unhealthy after `webhook_attempts`), leads sent to
    the owner's email tools (an erasure's payload is scrubbed after `email_tool_attempts`)."""
    return {
        OutboxKind.EMAIL.value: EmailHandler(
            backend_from_settings(settings), mail_from=settings.mail_from
        ),
        OutboxKind.WEBHOOK.value: WebhookSender(database, settings, max_attempts=webhook_attempts),
        OutboxKind.EMAIL_TOOL.value: EmailToolSender(
            database, settings, max_attempts=email_tool_attempts
        ),
    }


def outbox_worker(
    database: Database,
    settings: Settings,
    *,
    handlers: Mapping[str, Handler] | None = None,
    policies: Mapping[str, RetryPolicy] | None = None,
    clock: Callable[[], datetime] | None = None,
    **options: Any,
) -> OutboxWorker:
    """A worker for every kind this version delivers; tests may replace handlers, policies and
    the clock."""
    merged = {**outbox_policies(settings), **(policies or {})}
    if handlers is None:
        webhook = merged[OutboxKind.WEBHOOK.value]
        handlers = outbox_handlers(
            settings,
            database,
            webhook_attempts=webhook.max_attempts,
            email_tool_attempts=merged[OutboxKind.EMAIL_TOOL.value].max_attempts,
        )
    if clock is not None:
        options["clock"] = clock
    return OutboxWorker(database, handlers, policies=merged, **options)
