"""ORM model of an owner account."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["Role", "User", "user_handles"]


class Role(StrEnum):
    # Sees every handle and manages accounts.
    ADMIN = "admin"
    # Sees only the handles granted in `user_handles`.
    OWNER = "owner"


user_handles = Table(
    "user_handles",
    Base.metadata,
    Column("user_id", IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("handle_id", IdType, ForeignKey("handles.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """Someone who signs in to `/admin`. Only an argon2 hash of the password is stored.

    `session_version` is part of every session cookie; raising it (sign-out, a new password)
    makes every cookie issued before unusable.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'owner')", name="role"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(8), default=Role.ADMIN.value)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
