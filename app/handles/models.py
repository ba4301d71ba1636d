"""ORM model of a handle: the name in `/@name` and the page that answers it by default."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["Handle"]


class Handle(Base):
    """The name in `/@name`; its default page answers every visitor no route sends elsewhere."""

    __tablename__ = "handles"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    default_page_id: Mapped[int | None] = mapped_column(
        IdType,
        ForeignKey("pages.id", ondelete="SET NULL", use_alter=True),
        nullable=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
