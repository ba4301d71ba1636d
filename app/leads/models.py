"""ORM models of leads and their consent ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["ConsentEvent", "Lead", "LeadStatus"]


class LeadStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    CUSTOMER = "customer"


class Lead(Base):
    """One person who opted in on one page. Attribution is copied from the visit at submit time,
    so it survives double opt-in. Erasure blanks the personal data and keeps the row for counts.
    """

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("page_id", "email"),
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'unsubscribed', 'customer')", name="status"
        ),
        Index("ix_leads_updated_at_id", "updated_at", "id"),
        Index("ix_leads_handle_id_created_at", "handle_id", "created_at"),
        # Keyset pages of one handle's leads (API keys restricted to a handle, `?handle=`).
        Index("ix_leads_handle_id_id", "handle_id", "id"),
        Index("ix_leads_handle_id_updated_at_id", "handle_id", "updated_at", "id"),
        # The admin's search by the start of an address or of a name (app/leads/queries.py).
        Index("ix_leads_email", "email"),
        Index("ix_leads_name", "name"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    page_id: Mapped[int] = mapped_column(IdType, ForeignKey("pages.id", ondelete="RESTRICT"))
    handle_id: Mapped[int] = mapped_column(IdType, ForeignKey("handles.id", ondelete="RESTRICT"))
    # Normalised by email-validator; erasure replaces it with "erased-<id>" so the row stays.
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.PENDING.value)
    source: Mapped[str] = mapped_column(String(16), default="direct")
    medium: Mapped[str | None] = mapped_column(String(100), nullable=True)
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # From the latest opt-in: whether the newsletter box was ticked, and the consent text version
    # shown. A CRM tells gift-only sign-ups from newsletter sign-ups by the first.
    newsletter_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    route_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    visit_ref: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    customer_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    customer_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gift_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsentEvent(Base):
    """The consent ledger: what a person agreed to (text and version), when, and from where."""

    __tablename__ = "consent_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('opt_in', 'confirmed', 'unsubscribed', 'resubscribed')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    consent_text: Mapped[str] = mapped_column(Text, default="")
    consent_version: Mapped[int] = mapped_column(Integer, default=1)
    checkbox: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
