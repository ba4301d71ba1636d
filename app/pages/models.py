"""ORM models of landing pages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdType, UTCDateTime, utcnow

__all__ = ["FileKind", "GiftKind", "Page", "PageStatus", "StoredFile", "StoredFileChunk", "Theme"]


class PageStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GiftKind(StrEnum):
    URL = "url"
    FILE = "file"
    CODE = "code"
    TEXT = "text"


class FileKind(StrEnum):
    """What an uploaded file is for: each kind is served by its own route only."""

    GIFT = "gift"  # behind a lead's signed gift link, `/g/{token}`
    IMAGE = "image"  # public, `/media/{name}`


class Theme(StrEnum):
    CLEAN = "clean"
    BOLD = "bold"
    WARM = "warm"


class Page(Base):
    """A hosted opt-in page, reachable at `/p/{slug}` and through its handle's routing."""

    __tablename__ = "pages"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
        CheckConstraint("gift_kind IN ('url', 'file', 'code', 'text')", name="gift_kind"),
        CheckConstraint("name_field IN ('off', 'optional', 'required')", name="name_field"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    handle_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("handles.id", ondelete="RESTRICT"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    headline: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    hero_image_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    gift_kind: Mapped[str] = mapped_column(String(8), default=GiftKind.TEXT.value)
    # url: the link; file: the stored file's name (`stored_files.name`); code/text: the value.
    gift_value: Mapped[str] = mapped_column(Text, default="")
    gift_file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gift_title: Mapped[str] = mapped_column(String(200), default="Your free gift")
    name_field: Mapped[str] = mapped_column(String(8), default="optional")
    # Up to 5 custom fields: [{"key", "label", "type": text|select|checkbox, "required",
    # "options": [...]}], validated by the page service.
    custom_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    consent_text: Mapped[str] = mapped_column(Text, default="")
    consent_version: Mapped[int] = mapped_column(Integer, default=1)
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    theme: Mapped[str] = mapped_column(String(16), default=Theme.CLEAN.value)
    og_title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    og_description: Mapped[str | None] = mapped_column(String(300), nullable=True)
    og_image_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # The confirmation and gift emails' subject and text; empty means the built-in wording.
    confirm_subject: Mapped[str] = mapped_column(String(200), default="")
    confirm_text: Mapped[str] = mapped_column(Text, default="")
    gift_subject: Mapped[str] = mapped_column(String(200), default="")
    gift_text: Mapped[str] = mapped_column(Text, default="")
    # An external https address the browser goes to after the opt-in, instead of the thanks page.
    thank_you_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=PageStatus.DRAFT.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StoredFile(Base):
    """A file an owner uploaded (a gift file or a hero image), kept in the database so that
    every replica serves it and every backup holds it. Its bytes are in `StoredFileChunk` rows
    of `chunk_size` bytes, so a download reads one chunk at a time and never the whole file.
    A file is never changed: a new upload is a new random name."""

    __tablename__ = "stored_files"
    __table_args__ = (CheckConstraint("kind IN ('gift', 'image')", name="kind"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredFileChunk(Base):
    """Bytes `seq * chunk_size` onwards of a stored file (the last chunk may be shorter)."""

    __tablename__ = "stored_file_chunks"

    file_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("stored_files.name", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
