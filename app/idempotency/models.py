"""ORM model of idempotency keys: the first response to a write, replayed for 24 hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["IdempotencyKey"]


class IdempotencyKey(Base):
    """One `Idempotency-Key` of one API key, inserted in the transaction of the write it guards.

    The unique (api_key_id, key) makes a second request with the same key wait for the first
    transaction and then replay its stored response. `lead_id` names the lead the stored body
    describes, so erasing the lead can delete the copy of its personal data kept here.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key"),
        Index("ix_idempotency_keys_api_key_id_created_at", "api_key_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(IdType, ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    lead_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
