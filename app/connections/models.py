"""ORM models of connections, the events they received and the sales a shop reported."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = [
    "Connection",
    "ConnectionEvent",
    "ConnectionStatus",
    "EventOutcome",
    "Provider",
    "Sale",
    "connection_handles",
]


class Provider(StrEnum):
    """Every service leadlink connects to. The shops receive webhooks today; the platforms
    (likes) and email tools are reserved for the connectors that follow."""

    STRIPE = "stripe"
    SHOPIFY = "shopify"
    GUMROAD = "gumroad"
    YOUTUBE = "youtube"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    TIKTOK = "tiktok"
    MAILCHIMP = "mailchimp"
    KIT = "kit"
    BREVO = "brevo"


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    # Its secret is missing or can no longer be read (or a platform refused its token): the
    # owner must paste a new one. Nothing is accepted meanwhile.
    NEEDS_RECONNECT = "needs_reconnect"
    # The last event could not be used (`last_error` says why); the next good one clears it.
    ERROR = "error"
    # Stopped by the owner: its webhook URL answers 404.
    DISABLED = "disabled"


class EventOutcome(StrEnum):
    # A sale matched a lead, which is now a customer.
    CUSTOMER = "customer"
    # A sale whose buyer is no lead on the connection's handles ("customers without a lead").
    UNMATCHED = "unmatched"
    # Signed and read, but not a sale (another event type, unpaid, a test, a refund).
    IGNORED = "ignored"
    # Signed, but its content could not be used (no email, no amount); or a platform's daily
    # fetch that failed (the detail says why); for an email tool, a call that failed (retried,
    # or a refused key).
    FAILED = "failed"
    # A platform's daily fetch that read and stored the numbers.
    FETCHED = "fetched"
    # An email tool accepted a lead (added, updated, unsubscribed or erased).
    SENT = "sent"
    # An email tool refused one lead for good (its address, its compliance state); the
    # connection stays active.
    REFUSED = "refused"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value}'" for value in values)


connection_handles = Table(
    "connection_handles",
    Base.metadata,
    Column(
        "connection_id", IdType, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("handle_id", IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True),
)
"""The handles a connection is for; none: every handle (only an admin may make one)."""


class Connection(Base):
    """One account at another service, for some of the owner's handles.

    `public_id` is the unguessable part of its webhook URL. `secrets` is one Fernet token of a
    JSON object (signing secrets, API tokens) under a key derived from `LEADLINK_SECRET_KEY`
    (`app.connections.crypto`); `secret_hint` is the masked form the admin shows. `settings`
    holds what is not secret (a Gumroad seller id, later a channel or list id).
    """

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint(f"provider IN ({_in(Provider)})", name="provider"),
        CheckConstraint(f"status IN ({_in(ConnectionStatus)})", name="status"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.ACTIVE.value)
    secrets: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_hint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Platforms (fetched daily, `app.platforms.polling`): when the next fetch is due (also the
    # lease a poller takes), when the last one succeeded, and the failures since.
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ConnectionEvent(Base):
    """One event a connection received (signature verified), and what became of it.

    Unique per connection and provider event id: a provider's retry of the same event finds
    its row and changes nothing. The row keeps no address (the sale, erasable, does).
    """

    __tablename__ = "connection_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider_event_id"),
        CheckConstraint(f"outcome IN ({_in(EventOutcome)})", name="outcome"),
        Index("ix_connection_events_connection_id_id", "connection_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("connections.id", ondelete="CASCADE")
    )
    provider_event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Sale(Base):
    """A purchase a shop reported: who bought (the normalised address, as leads store it), how
    much, and the lead it made a customer (null: a customer without a lead).

    Erasure deletes a person's rows (`app.connections.sales.forget_buyer`); the connection's
    event log keeps the event id, so a late retry of that sale is still recognised.
    """

    __tablename__ = "sales"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider_event_id"),
        Index("ix_sales_email", "email"),
        Index("ix_sales_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("connections.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_event_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    lead_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
