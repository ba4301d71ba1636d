"""What the webhooks API reads and writes: endpoints (the signing secret only in the responses
that create or rotate it), pages of endpoints and of deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app import patterns
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "DeliveryList",
    "DeliveryRead",
    "EventType",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookList",
    "WebhookRead",
    "WebhookSecret",
    "WebhookUpdate",
]

EventType = Literal[
    "lead.created", "lead.confirmed", "lead.unsubscribed", "lead.updated", "lead.erased"
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2048)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=patterns.ONE_LINE)
]

_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": "4",
    "url": "https://crm.example.com/hooks/leadlink",
    "description": "HubSpot sync",
    "events": ["lead.created", "lead.confirmed"],
    "status": "active",
    "disabled_reason": None,
    "handles": [],
    "previous_secret_expires_at": None,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z",
}
_SECRET_EXAMPLE = "whsec_5m0Kq3yU8dZbT1xR7aV2cN4pL9sE6wHj0gF3iO8uYtA"  # noqa: S105 - an example
_DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "311",
    "event_id": "evt_8f14e45fceea167a5a36dedd4bea2543",
    "event_type": "lead.created",
    "status": "delivered",
    "attempts": 2,
    "last_status_code": 200,
    "last_latency_ms": 84,
    "last_error": None,
    "response_body": '{"ok":true}',
    "created_at": "2026-11-22T10:00:00Z",
    "last_attempt_at": "2026-11-22T10:00:31Z",
    "delivered_at": "2026-11-22T10:00:31Z",
}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/hooks/leadlink",
                    "events": ["lead.created", "lead.confirmed"],
                    "description": "HubSpot sync",
                }
            ]
        },
    )

    url: Url = Field(
        description=(
            "An http(s) URL on a public address (private, loopback and link-local targets are "
            "refused unless the instance allows them)."
        )
    )
    events: list[EventType] = Field(
        default_factory=list, max_length=5, description="The events to send; empty: all."
    )
    description: Description = ""


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "active"}, {"events": []}]},
    )

    url: Url | None = None
    events: list[EventType] | None = Field(default=None, max_length=5)
    description: Description | None = None
    status: Literal["active", "disabled"] | None = Field(
        default=None,
        description="`active` re-enables a disabled or unhealthy endpoint; `disabled` stops it.",
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    id: str
    url: str
    description: str
    events: list[str] = Field(description="The events sent to it; empty: all.")
    status: Literal["active", "disabled", "unhealthy"] = Field(
        description=(
            "`disabled`: nothing is sent (the API, or the receiver answered 410 Gone); "
            "`unhealthy`: a delivery spent its retry budget, events are still sent."
        )
    )
    disabled_reason: str | None
    handles: list[str] = Field(
        description="Only leads of these handles are announced (the creating key's); empty: all."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation signs too."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, endpoint: WebhookEndpoint, handle_names: Mapping[int, str]) -> WebhookRead:
        """The endpoint as the API shows it; `handle_names` names its handles by id."""
        return cls(
            id=str(endpoint.id),
            url=endpoint.url,
            description=endpoint.description,
            events=list(endpoint.events),
            status=endpoint.status,
            disabled_reason=endpoint.disabled_reason,
            handles=sorted(handle_names.get(i, str(i)) for i in endpoint.handle_ids or ()),
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookCreated(WebhookRead):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_ENDPOINT_EXAMPLE, "secret": _SECRET_EXAMPLE}]}
    )

    secret: str | None = Field(
        description=(
            "The signing secret, shown in this response only; null when the response is an "
            "idempotent replay."
        )
    )


class WebhookSecret(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "4",
                    "secret": _SECRET_EXAMPLE,
                    "previous_secret_expires_at": "2026-11-23T09:30:00Z",
                }
            ]
        }
    )

    id: str
    secret: str | None = Field(
        description="The new signing secret, shown once; null on an idempotent replay."
    )
    previous_secret_expires_at: datetime = Field(
        description="The old secret keeps signing (a second `v1=`) until then."
    )


class WebhookList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ENDPOINT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[WebhookRead]
    next_cursor: str | None


class DeliveryRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY_EXAMPLE]})

    id: str
    event_id: str = Field(description="The `Leadlink-Id`; a redelivery keeps it.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    response_body: str | None = Field(description="The start of the last response (1 KB).")
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, delivery: WebhookDelivery) -> DeliveryRead:
        return cls(
            id=str(delivery.id),
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_latency_ms=delivery.last_latency_ms,
            last_error=delivery.last_error,
            response_body=delivery.response_body,
            created_at=delivery.created_at,
            last_attempt_at=delivery.last_attempt_at,
            delivered_at=delivery.delivered_at,
        )


class DeliveryList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DELIVERY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[DeliveryRead]
    next_cursor: str | None
