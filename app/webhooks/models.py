"""ORM models of webhook endpoints (where events go, how they are signed) and their delivery log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["DeliveryStatus", "EndpointStatus", "WebhookDelivery", "WebhookEndpoint"]


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    # Stopped: by the API, or by the receiver answering `410 Gone`. Nothing is sent.
    DISABLED = "disabled"
    # A delivery spent its retry budget. Events are still sent; a 2xx makes it active again.
    UNHEALTHY = "unhealthy"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A receiver URL and the events it wants.

    `secret` and `previous_secret` hold Fernet tokens (AES-128-CBC + HMAC-SHA256) of the signing
    secrets, under a key derived from `LEADLINK_SECRET_KEY` (`app.webhooks.signing`): a copy of
    the database alone cannot forge signatures. After a rotation the previous secret signs too,
    until `previous_secret_expires_at`. `handle_ids` is the creating key's handle restriction
    (None: every handle); the endpoint only hears about leads of those handles.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled', 'unhealthy')", name="status"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Event types; an empty list means every event.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(500))
    previous_secret: Mapped[str | None] = mapped_column(String(500), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=EndpointStatus.ACTIVE.value)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    handle_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, and what happened when it was sent.

    The signed body lives in the outbox message (`outbox_message_id`, no foreign key: sent
    messages are pruned, and erasing a lead deletes its messages), never here, so erasure
    leaves nothing personal behind. A redelivery is a new row with the same `event_id`.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    outbox_message_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
