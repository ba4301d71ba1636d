"""Landing pages: create, change, publish, archive and look up pages; store gift files.

The CLI, the REST API and the admin UI call the same functions. Lookups for an API key take
`visible` (the key's handle ids, None for every handle): a page out of sight is a 404 exactly
like a missing one.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import FieldError, ValidationFailed
from app.external_urls import check_external_url
from app.handles.models import Handle
from app.handles.visibility import sees, visible_only
from app.pages import files
from app.pages.exceptions import (
    GiftFileTooLarge,
    InvalidGiftFile,
    InvalidSlug,
    PageNotFound,
    SlugTaken,
)
from app.pages.models import FileKind, GiftKind, Page, PageStatus
from app.pages.rendering import render_preview
from app.pages.schemas import (
    SLUG_PATTERN,
    PageCreate,
    PageList,
    PageRead,
    PageUpdate,
    field_errors,
)
from app.pagination import CursorCodec

__all__ = [
    "MAX_GIFT_FILE_BYTES",
    "archive_page",
    "create_page",
    "duplicate_page",
    "get_page",
    "get_page_by_id",
    "get_published_page",
    "get_visible_page",
    "get_visible_page_by_id",
    "has_gift",
    "list_pages",
    "list_pages_in_sight",
    "list_visible_pages",
    "normalize_slug",
    "page_read",
    "page_reads",
    "publish_page",
    "store_gift_file",
    "update_page",
]

M = TypeVar("M", bound=BaseModel)
# The landing page (HTML and CSS) must stay under 30 KB; the preview is measured with room for
# the real attribution token and base URL.
MAX_PAGE_BYTES = 30 * 1024
PAGE_SIZE_MARGIN = 1024
MAX_GIFT_FILE_BYTES = 25 * 1024 * 1024
STORED_NAME_PATTERN = files.GIFT_NAME
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
BY_PAGE = "pages"
# Columns that may be cleared with an explicit None; for the others None means "unchanged".
_NULLABLE = frozenset(
    {
        "hero_image_url",
        "gift_file_name",
        "og_title",
        "og_description",
        "og_image_url",
        "thank_you_url",
    }
)


def normalize_slug(raw: str) -> str:
    slug = raw.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidSlug(
            "A slug has 1 to 64 characters: letters a-z, digits and '-', not at either end."
        )
    return slug


def _parse(model: type[M], values: dict[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise field_errors(exc) from None


async def create_page(
    session: AsyncSession,
    handle: Handle,
    data: PageCreate | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    headline: str = "",
    body: str = "",
) -> Page:
    """Create a draft page; the keyword form (slug, title, headline, body) makes a page without a
    gift. The handle's first page becomes its default page.
    """
    if data is None:
        data = _parse(
            PageCreate, {"slug": slug, "title": title, "headline": headline, "body": body}
        )
    elif slug is not None or title is not None:
        raise TypeError("create_page takes either `data` or the keyword fields, not both")
    gift_kind, gift_value, gift_file_name = _checked_gift(
        data.gift_kind, data.gift_value, data.gift_file_name
    )
    if await session.scalar(select(Page.id).where(Page.slug == data.slug)) is not None:
        raise SlugTaken(data.slug)
    page = Page(
        handle_id=handle.id,
        slug=data.slug,
        title=data.title,
        headline=data.headline,
        body=data.body,
        hero_image_url=data.hero_image_url,
        gift_kind=gift_kind,
        gift_value=gift_value,
        gift_file_name=gift_file_name,
        gift_title=data.gift_title,
        name_field=data.name_field,
        custom_fields=[field.model_dump() for field in data.custom_fields],
        consent_text=data.consent_text,
        consent_version=1,
        double_opt_in=data.double_opt_in,
        theme=data.theme.value,
        og_title=data.og_title,
        og_description=data.og_description,
        og_image_url=data.og_image_url,
        confirm_subject=data.confirm_subject,
        confirm_text=data.confirm_text,
        gift_subject=data.gift_subject,
        gift_text=data.gift_text,
        thank_you_url=data.thank_you_url,
        status=PageStatus.DRAFT.value,
    )
    _check_page_size(page)
    session.add(page)
    await session.flush()
    if handle.default_page_id is None:
        handle.default_page_id = page.id
    return page


async def update_page(
    session: AsyncSession, page: Page, data: PageUpdate, *, gift_files: bool = True
) -> Page:
    """Change the fields set in `data`. A new consent text gets the next consent version, so
    the consent ledger can tell which wording each lead agreed to.

    With `gift_files` false (the API, which cannot upload files) a file gift can be kept or
    replaced by another kind, but not pointed at a stored file.
    """
    changes = {
        name: value
        for name, value in data.model_dump(exclude_unset=True).items()
        if value is not None or name in _NULLABLE
    }
    if "slug" in changes and changes["slug"] != page.slug:
        taken = await session.scalar(select(Page.id).where(Page.slug == changes["slug"]))
        if taken is not None:
            raise SlugTaken(changes["slug"])
    if {"gift_kind", "gift_value", "gift_file_name"} & changes.keys():
        kind, value, file_name = _checked_gift(
            changes.get("gift_kind", page.gift_kind),
            changes.get("gift_value", page.gift_value),
            changes.get("gift_file_name", page.gift_file_name),
        )
        if not gift_files and kind == GiftKind.FILE.value and value != page.gift_value:
            message = "File gifts are uploaded with the CLI; choose gift_kind url, code or text."
            raise ValidationFailed(
                f"Invalid page: gift_value: {message}",
                errors=[FieldError("gift_value", message)],
            )
        changes.update(gift_kind=kind, gift_value=value, gift_file_name=file_name)
    if "custom_fields" in changes:
        changes["custom_fields"] = [field.model_dump() for field in data.custom_fields or []]
    if "theme" in changes:
        changes["theme"] = str(changes["theme"])
    if "consent_text" in changes and changes["consent_text"] != page.consent_text:
        changes["consent_version"] = (page.consent_version or 1) + 1
    # Measured on a detached copy, so a refused change leaves the session's page untouched.
    current = {attr.key: getattr(page, attr.key) for attr in inspect(Page).column_attrs}
    _check_page_size(Page(**{**current, **changes}))
    before = _stored_names(page)
    for name, value in changes.items():
        setattr(page, name, value)
    # The landing-page cache is keyed by updated_at, so every change must move it.
    page.updated_at = utcnow()
    await session.flush()
    for replaced in sorted(before - _stored_names(page)):
        await files.delete_unless_used(session, replaced)
    return page


def _stored_names(page: Page) -> set[str]:
    """The names of the stored files a page uses: a file gift, uploaded images."""
    names = set()
    if page.gift_kind == GiftKind.FILE.value and page.gift_value:
        names.add(page.gift_value)
    for url in (page.hero_image_url, page.og_image_url):
        if url and url.startswith(files.MEDIA_PREFIX):
            names.add(url.removeprefix(files.MEDIA_PREFIX))
    return names


async def publish_page(session: AsyncSession, page: Page) -> Page:
    page.status = PageStatus.PUBLISHED.value
    page.published_at = page.published_at or utcnow()
    page.updated_at = utcnow()
    await session.flush()
    return page


async def duplicate_page(session: AsyncSession, page: Page) -> Page:
    """A draft copy of `page` on the same handle under a new slug (`<slug>-copy`, then
    `-copy-2`, …): the start of an A/B variant. The copy shares a file gift's stored file (files
    are never changed in place) and starts its own consent versions at 1."""
    slug = await _free_copy_slug(session, page.slug)
    skipped = {"id", "slug", "status", "created_at", "updated_at", "published_at"}
    values = {
        attr.key: getattr(page, attr.key)
        for attr in inspect(Page).column_attrs
        if attr.key not in skipped
    }
    now = utcnow()
    copy = Page(
        **{
            **values,
            "slug": slug,
            "status": PageStatus.DRAFT.value,
            "consent_version": 1,
            "custom_fields": [dict(field) for field in page.custom_fields or []],
            "created_at": now,
            "updated_at": now,
        }
    )
    session.add(copy)
    await session.flush()
    return copy


async def _free_copy_slug(session: AsyncSession, slug: str) -> str:
    for number in range(1, 1_000):
        suffix = "-copy" if number == 1 else f"-copy-{number}"
        candidate = slug[: 64 - len(suffix)].rstrip("-") + suffix
        if await session.scalar(select(Page.id).where(Page.slug == candidate)) is None:
            return candidate
    raise SlugTaken(f"{slug}-copy")


async def archive_page(session: AsyncSession, page: Page) -> Page:
    """Take a page offline (its links answer 404); its leads and reports stay."""
    page.status = PageStatus.ARCHIVED.value
    page.updated_at = utcnow()
    await session.flush()
    return page


def _check_page_size(page: Page) -> None:
    """Refuse a page whose landing page would weigh 30 KB or more (a 10,000-character body fits
    unless it is mostly multi-byte characters or characters that need escaping).
    """
    size = len(render_preview(page).encode("utf-8")) + PAGE_SIZE_MARGIN
    if size >= MAX_PAGE_BYTES:
        message = (
            f"The page would weigh {size / 1024:.1f} KB; pages stay under "
            f"{MAX_PAGE_BYTES // 1024} KB. Shorten the body."
        )
        raise ValidationFailed(
            f"Invalid page: body: {message}", errors=[FieldError("body", message)]
        )


def has_gift(page: Page) -> bool:
    """Whether the page has a gift to deliver (a draft may be saved without one)."""
    return bool(page.gift_value)


async def get_page(session: AsyncSession, slug: str) -> Page:
    """A page in any status, by its slug."""
    page = await session.scalar(select(Page).where(Page.slug == slug.strip().lower()))
    if page is None:
        raise PageNotFound(slug)
    return page


async def list_pages(session: AsyncSession, handle: Handle | None = None) -> Sequence[Page]:
    query = select(Page).order_by(Page.created_at, Page.id)
    if handle is not None:
        query = query.where(Page.handle_id == handle.id)
    return (await session.scalars(query)).all()


async def get_visible_page(
    session: AsyncSession, slug: str, visible: Collection[int] | None
) -> Page:
    """A page in any status, by its slug, if the caller may see its handle."""
    page = await get_page(session, slug)
    if not sees(visible, page.handle_id):
        raise PageNotFound(slug)
    return page


async def list_visible_pages(
    session: AsyncSession,
    *,
    visible: Collection[int] | None,
    handle: Handle | None,
    status: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    base_url: str,
) -> PageList:
    """Keyset pages of the pages the caller sees, in creation order."""
    query = select(Page).order_by(Page.id).limit(limit + 1)
    if cursor:
        query = query.where(Page.id > int(codec.decode(cursor, BY_PAGE, 1)[0]))
    query = query.where(visible_only(Page.handle_id, visible))
    if handle is not None:
        query = query.where(Page.handle_id == handle.id)
    if status is not None:
        query = query.where(Page.status == status)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return PageList(
        items=await page_reads(session, rows, base_url),
        next_cursor=codec.encode(BY_PAGE, [rows[-1].id]) if more else None,
    )


async def page_read(session: AsyncSession, page: Page, base_url: str) -> PageRead:
    return (await page_reads(session, [page], base_url))[0]


async def page_reads(session: AsyncSession, pages: Sequence[Page], base_url: str) -> list[PageRead]:
    """Pages as the API shows them (with their handle's name; a stored file's name hidden)."""
    handle_ids = {page.handle_id for page in pages}
    rows = await session.execute(select(Handle.id, Handle.name).where(Handle.id.in_(handle_ids)))
    names = dict(rows.all())
    return [PageRead.from_row(page, names[page.handle_id], base_url) for page in pages]


async def get_page_by_id(session: AsyncSession, page_id: int | None) -> Page | None:
    return await session.get(Page, page_id) if page_id is not None else None


async def get_visible_page_by_id(
    session: AsyncSession, page_id: int, visible: Collection[int] | None
) -> Page:
    """A page in any status, by its id, if the caller may see its handle (else 404)."""
    page = await session.get(Page, page_id)
    if page is None or not sees(visible, page.handle_id):
        raise PageNotFound(str(page_id))
    return page


async def list_pages_in_sight(
    session: AsyncSession, visible: Collection[int] | None
) -> Sequence[tuple[Page, str]]:
    """Every page the caller sees with its handle's name, the most recently changed first."""
    rows = await session.execute(
        select(Page, Handle.name)
        .join(Handle, Handle.id == Page.handle_id)
        .where(visible_only(Page.handle_id, visible))
        .order_by(Page.updated_at.desc(), Page.id.desc())
    )
    return [(page, name) for page, name in rows]


async def get_published_page(session: AsyncSession, slug: str) -> Page:
    page = await session.scalar(
        select(Page).where(Page.slug == slug.lower(), Page.status == PageStatus.PUBLISHED.value)
    )
    if page is None:
        raise PageNotFound
    return page


def _checked_gift(
    kind: GiftKind | str | None, value: str, file_name: str | None
) -> tuple[str, str, str | None]:
    """The gift's (kind, value, file name) to store, or a 422 naming the field.

    No kind and no value is "no gift yet"; a value without a kind is a text gift.
    """
    value = value.strip().replace("\r\n", "\n")
    if kind is None and not value:
        return GiftKind.TEXT.value, "", None
    kind = GiftKind(kind or GiftKind.TEXT).value
    field, problem = "gift_value", _gift_value_problem(kind, value)
    if problem is None and kind == GiftKind.FILE.value:
        field, problem = "gift_file_name", _file_name_problem(file_name or "")
    if problem is not None:
        raise ValidationFailed(
            f"Invalid page: {field}: {problem}", errors=[FieldError(field, problem)]
        )
    return kind, value, (file_name or "").strip() if kind == GiftKind.FILE.value else None


def _gift_value_problem(kind: str, value: str) -> str | None:
    if not value:
        return {
            GiftKind.URL.value: "A url gift needs the link.",
            GiftKind.FILE.value: "A file gift needs the file.",
            GiftKind.CODE.value: "A code gift needs the code.",
            GiftKind.TEXT.value: "A text gift needs the message.",
        }[kind]
    if kind == GiftKind.URL.value:
        return check_external_url(value)
    if kind == GiftKind.FILE.value and not STORED_NAME_PATTERN.fullmatch(value):
        return "A file gift is the stored name that store_gift_file returned."
    if kind == GiftKind.CODE.value and (len(value) > 100 or _CONTROL.search(value)):
        return "A code is one line of at most 100 characters."
    if kind == GiftKind.TEXT.value and (len(value) > 5_000 or _TEXT_CONTROL.search(value)):
        return "A text gift has at most 5,000 characters and no control characters."
    return None


def _file_name_problem(name: str) -> str | None:
    if _CONTROL.search(name) or "/" in name or "\\" in name:
        return "A file name cannot contain '/', '\\' or control characters."
    name = name.strip()
    if not name:
        return "A file gift needs the file's name for downloads."
    if len(name) > 255:
        return "A file name has at most 255 characters."
    if name in {".", ".."}:
        return "A file name cannot be '.' or '..'."
    return None


async def store_gift_file(
    session: AsyncSession,
    settings: Settings,
    source: Path | str | bytes | BinaryIO,
    original_name: str,
    *,
    extension: str | None = None,
    content_type: str | None = None,
) -> str:
    """Store a gift file in the database (`app.pages.files`) under a random name and return
    that name, in the caller's transaction; the page keeps `original_name` for downloads. At
    most `LEADLINK_MAX_GIFT_BYTES` (25 MB). The stored name ends in `extension` (the type
    found in the content, for uploads) or else the original name's; it is served with
    `content_type`, or the type its extension names.
    """
    problem = _file_name_problem(original_name)
    if problem:
        raise InvalidGiftFile(problem)
    suffix = extension or PurePath(original_name.strip()).suffix.lower()
    stored = secrets.token_hex(16) + (suffix if _EXTENSION.fullmatch(suffix) else "")
    limit = settings.max_gift_bytes
    with _readable(source, limit) as stream:
        try:
            await files.save_file(
                session, stored, FileKind.GIFT, stream, limit=limit, content_type=content_type
            )
        except OSError as exc:
            raise InvalidGiftFile(f"cannot read {original_name}: {exc.strerror or exc}") from None
    return stored


@contextmanager
def _readable(source: Path | str | bytes | BinaryIO, limit: int) -> Iterator[BinaryIO]:
    """`source` as a stream to read from; a file over `limit` is refused before it is read."""
    if isinstance(source, bytes):
        if len(source) > limit:
            raise GiftFileTooLarge(limit)
        yield io.BytesIO(source)
        return
    if not isinstance(source, (str, Path)):
        yield source
        return
    path = Path(source)
    try:
        if not path.is_file():
            raise InvalidGiftFile(f"{path} is not a file.")
        if path.stat().st_size > limit:
            raise GiftFileTooLarge(limit)
        stream = path.open("rb")
    except OSError as exc:
        raise InvalidGiftFile(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream
