"""ORM models of API keys and their optional restriction to handles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["ApiKey", "api_key_handles"]

api_key_handles = Table(
    "api_key_handles",
    Base.metadata,
    Column("api_key_id", IdType, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("handle_id", IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True),
)


class ApiKey(Base):
    """A bearer secret for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
