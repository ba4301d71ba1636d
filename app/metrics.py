"""Prometheus metrics of the process, served at /metrics."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "optin_submissions",
    "outbox_failed",
    "outbox_retries",
    "outbox_sent",
    "registry",
    "render_metrics",
    "visit_buffer_size",
    "visit_write_failures",
    "visits_lost",
    "visits_recorded",
    "webhook_deliveries",
]

registry = CollectorRegistry(auto_describe=True)

visits_recorded = Counter(
    "leadlink_visits_recorded",
    "Visits and previews written to the database.",
    ["kind"],
    registry=registry,
)
visits_lost = Counter(
    "leadlink_visits_lost",
    "Visits that could not be written at all (logged as errors).",
    registry=registry,
)
visit_write_failures = Counter(
    "leadlink_visit_write_failures",
    "Failed attempts to write a batch of visits (the batch is kept and retried).",
    registry=registry,
)
optin_submissions = Counter(
    "leadlink_optin_submissions",
    "Opt-in form posts by outcome (accepted, invalid, honeypot, too_fast, stale).",
    ["outcome"],
    registry=registry,
)
visit_buffer_size = Gauge(
    "leadlink_visit_buffer_size", "Visits waiting in memory to be written.", registry=registry
)
outbox_sent = Counter(
    "leadlink_outbox_sent", "Outbox messages delivered.", ["kind"], registry=registry
)
outbox_failed = Counter(
    "leadlink_outbox_failed",
    "Outbox messages given up on: retry budget spent or refused for good (logged as errors).",
    ["kind"],
    registry=registry,
)
outbox_retries = Counter(
    "leadlink_outbox_retries",
    "Failed outbox delivery attempts that were scheduled to be tried again.",
    ["kind"],
    registry=registry,
)
webhook_deliveries = Counter(
    "leadlink_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retry, gone (410: endpoint disabled), "
    "failed (retry budget spent: endpoint unhealthy, logged as an error).",
    ["outcome"],
    registry=registry,
)


def render_metrics() -> bytes:
    return generate_latest(registry)
