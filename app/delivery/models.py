"""ORM model of the transactional outbox: work written with the data it belongs to, sent later."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["OutboxKind", "OutboxMessage", "OutboxStatus"]


class OutboxKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    # A lead added to, unsubscribed from or erased at the owner's email tool (app.email_tools).
    EMAIL_TOOL = "email_tool"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # The retry budget is spent or the receiver refused for good; logged as an error.
    FAILED = "failed"


class OutboxMessage(Base):
    """One email or webhook call, inserted in the transaction of the change that caused it.

    The worker claims due rows by setting `locked_until` (a lease): a worker that dies mid-send
    leaves the row to be claimed again once the lease has passed, so delivery is at least once.
    `attempts` counts attempts started. An email's payload holds the rendered message (subject,
    text, html, headers), which is what the admin outbox shows.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'webhook', 'email_tool')", name="kind"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # No foreign key: the leads table belongs to another domain, and erasing a lead deletes its
    # messages explicitly (`delivery.service.forget_lead`) so no payload outlives the person.
    lead_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
