"""ORM model of what leadlink has sent about a lead to one email-tool connection."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["EmailToolSync", "SyncAction", "SyncState"]


class SyncAction(StrEnum):
    SUBSCRIBE = "subscribe"  # add or update the person on the list, with tags or fields
    UNSUBSCRIBE = "unsubscribe"  # the person unsubscribed in leadlink


class SyncState(StrEnum):
    QUEUED = "queued"  # in the outbox
    SYNCED = "synced"  # the tool accepted it
    # The tool refused it for good, or the connection could not send (a rejected key, disabled):
    # "Send confirmed leads" on the connection's page queues it again.
    FAILED = "failed"


class EmailToolSync(Base):
    """One lead on one email-tool connection: the latest action queued, a fingerprint of what
    it carried (so an unchanged lead is not sent again), and how it went.

    No address is kept here: the fingerprint is a SHA-256 and the remote id is the tool's own
    (a Kit subscriber id, a Brevo contact id, Mailchimp's subscriber hash). Erasure deletes
    the lead's rows once it has queued the removal at the tool.
    """

    __tablename__ = "email_tool_syncs"
    __table_args__ = (
        UniqueConstraint("connection_id", "lead_id"),
        CheckConstraint("action IN ('subscribe', 'unsubscribe')", name="action"),
        CheckConstraint("state IN ('queued', 'synced', 'failed')", name="state"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("connections.id", ondelete="CASCADE")
    )
    lead_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=SyncState.QUEUED.value)
    remote_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
