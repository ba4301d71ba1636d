"""`leadlink pages …`: create, change, publish, archive, list and preview landing pages from the
command line. Options are trimmed here and checked by the API's own request models.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from app.command import CommandScope, command_group, err, fail, out, with_database
from app.config import Settings
from app.handles import service as handles
from app.pages import service as pages
from app.pages.rendering import render_preview
from app.pages.schemas import (
    PageCreate,
    PageCreateRequest,
    PageUpdate,
    PageUpdateRequest,
    field_errors,
)

__all__ = ["pages_cli"]

pages_cli = command_group("Create, change, publish, archive and preview landing pages.")

Model = TypeVar("Model", bound=BaseModel)
FIELD_SPEC = "key:label:text|select|checkbox[:required][:opt1|opt2]"
FIELD_HELP = (
    "Repeatable, up to 5: key:label:TYPE[:required][:opt1|opt2] with TYPE text, select or checkbox."
)

SlugArgument = Annotated[str, typer.Argument(metavar="SLUG", help="The page's slug.")]
TitleOption = Annotated[
    str | None, typer.Option(metavar="TEXT", help="The page's title (browser tab, previews).")
]
HeadlineOption = Annotated[
    str | None, typer.Option(metavar="TEXT", help="The big line at the top of the page.")
]
BodyFileOption = Annotated[
    Path | None,
    typer.Option("--body-file", metavar="FILE.md", help="A Markdown file with the page's text."),
]
HeroOption = Annotated[
    str | None, typer.Option("--hero-image", metavar="URL", help="An https:// image URL.")
]
GiftKindOption = Annotated[
    str | None, typer.Option(metavar="KIND", help="url, file, code or text.")
]
GiftOption = Annotated[
    str | None,
    typer.Option(
        metavar="VALUE", help="A URL, a file's path, a code or a message (per --gift-kind)."
    ),
]
GiftTitleOption = Annotated[
    str | None, typer.Option(metavar="TEXT", help='e.g. "The 7-day checklist".')
]
ThemeOption = Annotated[str | None, typer.Option(metavar="THEME", help="clean, bold or warm.")]
NameOption = Annotated[
    str | None,
    typer.Option("--name", metavar="MODE", help="The name field: off, optional or required."),
]
ConsentOption = Annotated[
    str | None,
    typer.Option(metavar="TEXT", help="The consent checkbox's label (empty: no checkbox)."),
]
FieldOption = Annotated[
    list[str] | None,
    typer.Option("--field", metavar="SPEC", help=FIELD_HELP),
]
OgTitleOption = Annotated[str | None, typer.Option(metavar="TEXT", help="Title of link previews.")]
OgDescriptionOption = Annotated[
    str | None, typer.Option(metavar="TEXT", help="Text of link previews.")
]
OgImageOption = Annotated[
    str | None, typer.Option(metavar="URL", help="An https:// image for link previews.")
]


def _trimmed(value: str | None) -> str | None:
    # The API takes values without blanks around them; on a command line they are noise.
    return None if value is None else value.strip()


def _custom_field(spec: str) -> dict[str, object]:
    """`key:label:type[:required][:opt1|opt2]` as the schema's custom-field mapping."""
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) < 3 or not all(parts[:3]):
        fail(f"--field {spec!r} is not {FIELD_SPEC}")
    key, label, kind, *rest = parts
    required = False
    if rest and rest[0] in {"required", "optional"}:
        required = rest.pop(0) == "required"
    field: dict[str, object] = {"key": key, "label": label, "type": kind, "required": required}
    if rest:
        field["options"] = [option.strip() for option in ":".join(rest).split("|")]
    return field


def _page_values(
    *,
    title: str | None,
    headline: str | None,
    body_file: Path | None,
    hero_image: str | None,
    gift_title: str | None,
    theme: str | None,
    double_opt_in: bool | None,
    name_field: str | None,
    consent_text: str | None,
    fields: list[str] | None,
    og_title: str | None,
    og_description: str | None,
    og_image: str | None,
) -> dict[str, object]:
    """The options that were given, trimmed, by the names of the API's page fields (the gift
    aside: the API cannot carry a file)."""
    given: dict[str, object | None] = {
        "title": _trimmed(title),
        "headline": _trimmed(headline),
        "hero_image_url": _trimmed(hero_image),
        "gift_title": _trimmed(gift_title),
        "theme": _trimmed(theme),
        "double_opt_in": double_opt_in,
        "name_field": _trimmed(name_field),
        "consent_text": _trimmed(consent_text),
        "og_title": _trimmed(og_title),
        "og_description": _trimmed(og_description),
        "og_image_url": _trimmed(og_image),
    }
    values = {name: value for name, value in given.items() if value is not None}
    if body_file is not None:
        try:
            values["body"] = body_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read --body-file {body_file}: {getattr(exc, 'strerror', None) or exc}")
    if fields is not None:
        values["custom_fields"] = [_custom_field(spec) for spec in fields]
    return values


def _checked(model: type[Model], values: dict[str, Any]) -> Model:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fail(field_errors(exc).detail)


def _with_gift(model: type[Model], changes: BaseModel, gift: dict[str, object]) -> Model:
    """The service's page model: the checked API fields plus the gift, which may be a file."""
    return _checked(model, {**changes.model_dump(exclude_unset=True), **gift})


async def _gift_values(
    session: AsyncSession, settings: Settings, kind: str | None, gift: str | None
) -> dict[str, object]:
    """The gift options as page fields; a file gift is stored in the database first, in the
    command's transaction (the file's name is then `gift_file_name`)."""
    values: dict[str, object] = {} if kind is None else {"gift_kind": kind.strip()}
    if gift is None:
        return values
    if values.get("gift_kind", kind) != "file":
        return {**values, "gift_value": gift.strip()}
    path = Path(gift.strip())
    stored = await pages.store_gift_file(session, settings, path, path.name)
    return {**values, "gift_value": stored, "gift_file_name": path.name}


@pages_cli.command("create")
@with_database
async def pages_create(
    cmd: CommandScope,
    handle: Annotated[
        str, typer.Argument(metavar="HANDLE", help="The handle the page belongs to.")
    ],
    slug: Annotated[
        str, typer.Argument(metavar="SLUG", help="The page's address: BASE_URL/p/SLUG.")
    ],
    title: TitleOption = None,
    headline: HeadlineOption = None,
    body_file: BodyFileOption = None,
    hero_image: HeroOption = None,
    gift_kind: GiftKindOption = None,
    gift: GiftOption = None,
    gift_title: GiftTitleOption = None,
    theme: ThemeOption = None,
    double_opt_in: Annotated[
        bool,
        typer.Option(
            "--double-opt-in/--no-double-opt-in",
            show_default=False,
            help="Confirm by email first (the default).",
        ),
    ] = True,
    name_field: NameOption = None,
    consent_text: ConsentOption = None,
    field: FieldOption = None,
    og_title: OgTitleOption = None,
    og_description: OgDescriptionOption = None,
    og_image: OgImageOption = None,
) -> None:
    """Create a draft landing page.

    Publish it with `leadlink pages publish SLUG`.
    """
    if title is None:
        fail("--title is required")
    values = _page_values(
        title=title,
        headline=headline,
        body_file=body_file,
        hero_image=hero_image,
        gift_title=gift_title,
        theme=theme,
        double_opt_in=double_opt_in,
        name_field=name_field,
        consent_text=consent_text,
        fields=field,
        og_title=og_title,
        og_description=og_description,
        og_image=og_image,
    )
    request = _checked(
        PageCreateRequest, {"handle": handle.strip(), "slug": slug.strip(), **values}
    )
    # A failure below leaves the transaction uncommitted: the stored file goes with it.
    gift_values = await _gift_values(cmd.session, cmd.settings, gift_kind, gift)
    data = _with_gift(PageCreate, request.to_create(), gift_values)
    owner = await handles.get_handle(cmd.session, request.handle)
    page = await pages.create_page(cmd.session, owner, data)
    await cmd.commit()
    out.print(f"page created (draft): {cmd.settings.base_url}/p/{page.slug}", highlight=False)


@pages_cli.command("update")
@with_database
async def pages_update(
    cmd: CommandScope,
    slug: SlugArgument,
    new_slug: Annotated[
        str | None, typer.Option("--slug", metavar="NEW", help="Give the page a new slug.")
    ] = None,
    title: TitleOption = None,
    headline: HeadlineOption = None,
    body_file: BodyFileOption = None,
    hero_image: HeroOption = None,
    gift_kind: GiftKindOption = None,
    gift: GiftOption = None,
    gift_title: GiftTitleOption = None,
    theme: ThemeOption = None,
    double_opt_in: Annotated[
        bool | None,
        typer.Option("--double-opt-in/--no-double-opt-in", help="Confirm by email first."),
    ] = None,
    name_field: NameOption = None,
    consent_text: ConsentOption = None,
    field: FieldOption = None,
    clear_fields: Annotated[
        bool, typer.Option(show_default=False, help="Remove every custom field.")
    ] = False,
    og_title: OgTitleOption = None,
    og_description: OgDescriptionOption = None,
    og_image: OgImageOption = None,
) -> None:
    """Change a page; only the options given change.

    An empty value clears an optional one.
    """
    values = _page_values(
        title=title,
        headline=headline,
        body_file=body_file,
        hero_image=hero_image,
        gift_title=gift_title,
        theme=theme,
        double_opt_in=double_opt_in,
        name_field=name_field,
        consent_text=consent_text,
        fields=[] if clear_fields else field,
        og_title=og_title,
        og_description=og_description,
        og_image=og_image,
    )
    if new_slug is not None:
        values["slug"] = new_slug.strip()
    request = _checked(PageUpdateRequest, values)
    page = await pages.get_page(cmd.session, slug.strip())
    # --gift alone keeps the page's gift kind
    kind = page.gift_kind if gift is not None and gift_kind is None else gift_kind
    gift_values = await _gift_values(cmd.session, cmd.settings, kind, gift)
    data = _with_gift(PageUpdate, request.to_update(), gift_values)
    # A replaced gift file that no other page uses is removed in the same transaction.
    page = await pages.update_page(cmd.session, page, data)
    await cmd.commit()
    out.print(f"page updated: {cmd.settings.base_url}/p/{page.slug}", highlight=False)


@pages_cli.command("publish")
@with_database
async def pages_publish(cmd: CommandScope, slug: SlugArgument) -> None:
    """Put a page online at BASE_URL/p/SLUG and on its handle's routes."""
    page = await pages.publish_page(cmd.session, await pages.get_page(cmd.session, slug))
    await cmd.commit()
    out.print(f"page published: {cmd.settings.base_url}/p/{page.slug}", highlight=False)
    if not pages.has_gift(page):
        err.print(
            f"note: the page has no gift yet; set one with `leadlink pages update {page.slug} "
            "--gift-kind … --gift …`",
            highlight=False,
        )


@pages_cli.command("archive")
@with_database
async def pages_archive(cmd: CommandScope, slug: SlugArgument) -> None:
    """Take a page offline (its links answer 404).

    Its leads and reports stay.
    """
    page = await pages.archive_page(cmd.session, await pages.get_page(cmd.session, slug))
    await cmd.commit()
    out.print(f"page archived: {page.slug}", highlight=False)


@pages_cli.command("list")
@with_database
async def pages_list(
    cmd: CommandScope,
    handle: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this handle's pages.")
    ] = None,
) -> None:
    """List pages with their status, theme, gift and address."""
    owner = await handles.get_handle(cmd.session, handle) if handle else None
    names = {h.id: h.name for h in await handles.list_handles(cmd.session)}
    table = Table("slug", "handle", "status", "theme", "gift", "title", "link")
    for page in await pages.list_pages(cmd.session, owner):
        row = (
            page.slug,
            names.get(page.handle_id, "?"),
            page.status,
            page.theme,
            page.gift_kind if pages.has_gift(page) else "none",
            page.title,
            f"{cmd.settings.base_url}/p/{page.slug}",
        )
        table.add_row(*(Text(cell) for cell in row))  # titles are text, not Rich markup
    out.print(table)


@pages_cli.command("preview")
@with_database
async def pages_preview(
    cmd: CommandScope,
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The page's slug (drafts too).")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the HTML here instead of stdout."),
    ] = None,
) -> None:
    """Print a page's HTML without recording a visit.

    The HTML visitors would get; drafts too.
    """
    page = await pages.get_page(cmd.session, slug)
    html = render_preview(page, base_url=cmd.settings.base_url)
    if out_file is None:
        sys.stdout.write(html)
        return
    try:
        out_file.write_text(html, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc.strerror or exc}")
    out.print(f"preview written to {out_file} ({len(html.encode()):,} bytes)", highlight=False)
