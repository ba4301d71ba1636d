"""The `leadlink` command: serve, migrate, worker, demo, keys, version."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import __version__, migrations
from app.api_keys import service as api_keys
from app.config import ConfigError, Settings, load_settings
from app.db import Database, create_engine
from app.demo import DEMO_HANDLE, DEMO_OWNER_EMAIL, DemoSeed, seed_demo
from app.errors import AppError
from app.http_protocol import CoalescingHttpToolsProtocol
from app.links import service as links
from app.observability import configure_logging
from app.outbox_handlers import outbox_worker
from app.pages import schemas as page_schemas
from app.pages import service as pages
from app.pages.rendering import render_preview
from app.reports import rollups as report_rollups
from app.reports import service as reports
from app.reports import social_metrics
from app.users import service as users

__all__ = ["cli", "main"]

T = TypeVar("T")

cli = typer.Typer(
    name="leadlink",
    help="leadlink: one link for every social bio, turning likes into leads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_cli = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
handles_cli = typer.Typer(
    help="Create handles (the name in /@name) and route their visitors.", no_args_is_help=True
)
cli.add_typer(handles_cli, name="handles")
pages_cli = typer.Typer(
    help="Create, change, publish, archive and preview landing pages.", no_args_is_help=True
)
cli.add_typer(pages_cli, name="pages")
users_cli = typer.Typer(help="Owner accounts that sign in to /admin.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
metrics_cli = typer.Typer(
    help="Social-metric snapshots (likes, followers, …) per platform and day.",
    no_args_is_help=True,
)
cli.add_typer(metrics_cli, name="metrics")
rollups_cli = typer.Typer(help="The daily visit rollups behind the report.", no_args_is_help=True)
cli.add_typer(rollups_cli, name="rollups")

out = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """End the command with one readable line on stderr, never a traceback."""
    # The message often quotes user input: never read it as Rich markup or emoji codes.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, emoji=False)
    raise typer.Exit(code=1)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"LEADLINK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid LEADLINK_* setting: {problems}")


def engine_or_fail(settings: Settings) -> AsyncEngine:
    try:
        return create_engine(settings)
    except (ArgumentError, ValueError) as exc:
        fail(f"LEADLINK_DATABASE_URL is not usable: {exc}")
    except ModuleNotFoundError as exc:
        fail(f"LEADLINK_DATABASE_URL needs a driver that is not installed: {exc.name}")


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine; database and domain failures end the command with one line."""
    try:
        return asyncio.run(_call(make))
    except AppError as exc:
        fail(exc.detail)
    except (DBAPIError, OSError, TimeoutError) as exc:
        fail(f"cannot use the database: {_first_line(exc)}")


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


@asynccontextmanager
async def session_scope(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A committed unit of work for one CLI command."""
    database = Database(engine_or_fail(settings))
    try:
        async with database.session() as session:
            yield session
            await session.commit()
    finally:
        await database.dispose()


async def _schema_problem(settings: Settings) -> str | None:
    database = Database(engine_or_fail(settings))
    try:
        async with database.session(write=False) as session:
            revision = await migrations.current_revision(await session.connection())
    finally:
        await database.dispose()
    if revision is None:
        return "the database has no schema yet; run `leadlink migrate` first"
    if revision != migrations.head_revision():
        return (
            f"the database schema is at {revision} but this version needs "
            f"{migrations.head_revision()}; run `leadlink migrate`"
        )
    return None


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve leadlink over HTTP (uvicorn, uvloop, httptools; a response's head and body in one
    write). Migrations are `leadlink migrate`."""
    settings = settings_or_fail()
    problem = run(lambda: _schema_problem(settings))
    if problem:
        fail(problem)
    configure_logging(settings)
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


@cli.command()
def migrate() -> None:
    """Apply the database migrations up to the newest revision (safe to run again)."""
    settings = settings_or_fail()

    async def upgrade() -> None:
        engine = engine_or_fail(settings)
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()

    run(upgrade)
    out.print(f"database is at revision {migrations.head_revision()}", highlight=False)

    async def zone_in_step() -> bool:
        async with session_scope(settings) as session:
            return await report_rollups.sync_report_zone(session, settings.report_tz)

    if not run(zone_in_step):
        err.print(
            f"warning: the report's daily rollups are kept in another time zone than "
            f"LEADLINK_REPORT_TZ={settings.report_tz}; run `leadlink rollups rebuild`",
            highlight=False,
        )


@cli.command()
def worker() -> None:
    """Deliver the outbox (emails, webhooks) with retries until SIGTERM or Ctrl-C, then finish
    the messages in hand. For production: run N of these and set LEADLINK_OUTBOX_IN_PROCESS=false
    on the web processes."""
    settings = settings_or_fail()
    problem = run(lambda: _schema_problem(settings))
    if problem:
        fail(problem)
    configure_logging(settings)

    async def deliver() -> None:
        database = Database(engine_or_fail(settings))
        outbox = outbox_worker(database, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, outbox.request_stop)
        mail = f"SMTP {settings.smtp_host}" if settings.smtp_host else "the log (no SMTP host)"
        err.print(f"outbox worker started; email goes to {mail}", highlight=False)
        try:
            await outbox.run_forever()
        finally:
            await database.dispose()
        err.print("outbox worker stopped")

    run(deliver)


@cli.command()
def demo() -> None:
    """Seed the demo handle, page and an all-scopes API key once, and print where to look."""
    settings = settings_or_fail()

    async def seed() -> DemoSeed:
        async with session_scope(settings) as session:
            return await seed_demo(session, report_tz=settings.report_tz)

    seeded = run(seed)
    secret = seeded.api_key_secret
    base = settings.base_url
    out.print("[bold]leadlink demo[/]")
    out.print(f"  one link       {base}/@{DEMO_HANDLE}", highlight=False)
    out.print(f"  landing page   {base}/p/demo", highlight=False)
    out.print(f"  API docs       {base}/docs", highlight=False)
    out.print(f"  health         {base}/healthz  ·  {base}/readyz", highlight=False)
    out.print(f"  admin          {base}/admin/report", highlight=False)
    if seeded.owner_password:
        out.print(f"  admin login    {DEMO_OWNER_EMAIL}", highlight=False)
        out.print(f"  admin password {seeded.owner_password}", highlight=False)
        out.print("                 (shown once; `leadlink users password EMAIL` sets a new one)")
    if secret:
        out.print(f"  API key        {secret}", highlight=False)
        out.print("                 (all scopes; shown once, only its hash is stored)")
    else:
        out.print(
            "  API key        shown on the first start only; `leadlink keys create` makes one"
        )


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label, e.g. the CRM's name.")],
    scope: Annotated[
        list[str],
        typer.Option(help=f"Repeatable; one of: {', '.join(api_keys.SCOPES)}."),
    ],
    handle: Annotated[
        list[str] | None, typer.Option(help="Repeatable; restrict the key to these handles.")
    ] = None,
) -> None:
    """Issue an API key; its secret is printed once and only its hash is stored."""
    settings = settings_or_fail()

    async def create() -> api_keys.IssuedKey:
        async with session_scope(settings) as session:
            restricted = [await links.get_handle(session, name) for name in handle or []]
            return await api_keys.create_api_key(
                session, name=name, scopes=scope, handles=restricted
            )

    issued = run(create)
    out.print(f"API key {issued.key.id} ({issued.key.scopes}):", highlight=False)
    out.print(issued.secret, highlight=False)
    err.print("Store it now: it is shown once and cannot be recovered.")


@keys_cli.command("list")
def keys_list() -> None:
    """List API keys (prefix, scopes, last use); never their secrets."""
    settings = settings_or_fail()

    async def fetch() -> list[tuple[str, ...]]:
        async with session_scope(settings) as session:
            return [
                (
                    str(key.id),
                    key.name,
                    key.prefix + "…",
                    key.scopes,
                    key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never",
                    "revoked" if key.revoked_at else "active",
                )
                for key in await api_keys.list_api_keys(session)
            ]

    table = Table("id", "name", "prefix", "scopes", "last used", "state")
    for row in run(fetch):
        table.add_row(*row)
    out.print(table)


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `keys list`).")],
) -> None:
    """Revoke an API key at once; requests with it get 401 from then on."""
    settings = settings_or_fail()

    async def revoke() -> None:
        async with session_scope(settings) as session:
            await api_keys.revoke_api_key(session, key_id)

    run(revoke)
    out.print(f"API key {key_id} revoked.")


@handles_cli.command("create")
def handles_create(
    name: Annotated[str, typer.Argument(help="The handle: a-z, 0-9, '.', '_', '-'.")],
    display_name: Annotated[str, typer.Option(help="The name shown to visitors.")] = "",
) -> None:
    """Create a handle; its one link is BASE_URL/@NAME."""
    settings = settings_or_fail()

    async def create() -> str:
        async with session_scope(settings) as session:
            return (await links.create_handle(session, name, display_name=display_name)).name

    created = run(create)
    out.print(f"handle created: {settings.base_url}/@{created}", highlight=False)


@handles_cli.command("list")
def handles_list() -> None:
    """List handles with their one link and number of routes."""
    settings = settings_or_fail()

    async def fetch() -> list[tuple[str, str, str]]:
        async with session_scope(settings) as session:
            rows = []
            for handle in await links.list_handles(session):
                routes = await links.list_routes(session, handle)
                rows.append((handle.name, f"{settings.base_url}/@{handle.name}", str(len(routes))))
            return rows

    table = Table("handle", "one link", "routes")
    for row in run(fetch):
        table.add_row(*row)
    out.print(table)


@handles_cli.command("show")
def handles_show(name: Annotated[str, typer.Argument(help="The handle.")]) -> None:
    """Show a handle's default page and its routes."""
    settings = settings_or_fail()

    async def fetch() -> tuple[str, list[tuple[str, ...]]]:
        async with session_scope(settings) as session:
            handle = await links.get_handle(session, name)
            default = await pages.get_page_by_id(session, handle.default_page_id)
            rows: list[tuple[str, ...]] = [
                (
                    str(route.id),
                    route.source or "any",
                    route.variant,
                    str(route.weight),
                    route.target_url or f"page {route.page_id}",
                )
                for route in await links.list_routes(session, handle)
            ]
            return (default.slug if default else "none"), rows

    default_slug, rows = run(fetch)
    out.print(f"@{name}: default page {default_slug}", highlight=False)
    table = Table("route", "source", "variant", "weight", "target")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@handles_cli.command("default")
def handles_default(
    name: Annotated[str, typer.Argument(help="The handle.")],
    page: Annotated[str, typer.Option(help="Slug of one of the handle's pages.")],
) -> None:
    """Set the page every visitor gets when no route applies."""
    settings = settings_or_fail()

    async def update() -> None:
        async with session_scope(settings) as session:
            await links.set_default_page(session, await links.get_handle(session, name), page)

    run(update)
    out.print(f"@{name} now opens /p/{page} by default", highlight=False)


@handles_cli.command("route")
def handles_route(
    name: Annotated[str, typer.Argument(help="The handle.")],
    source: Annotated[
        str | None, typer.Option(help="Only visitors from this source (e.g. tiktok, ig).")
    ] = None,
    page: Annotated[str | None, typer.Option(help="Send them to this page (slug).")] = None,
    url: Annotated[str | None, typer.Option(help="Or redirect them (302) to this URL.")] = None,
    weight: Annotated[int, typer.Option(help="Share among routes of the same source.")] = 1,
    variant: Annotated[str | None, typer.Option(help="A/B variant name in reports.")] = None,
) -> None:
    """Add a route: per-source pages, external redirects, weighted A/B variants."""
    settings = settings_or_fail()

    async def add() -> int:
        async with session_scope(settings) as session:
            handle = await links.get_handle(session, name)
            route = await links.add_route(
                session,
                handle,
                source=source,
                page_slug=page,
                target_url=url,
                weight=weight,
                variant=variant,
            )
            return route.id

    route_id = run(add)
    out.print(f"route {route_id} added to @{name}", highlight=False)


@handles_cli.command("unroute")
def handles_unroute(
    name: Annotated[str, typer.Argument(help="The handle.")],
    route_id: Annotated[int, typer.Argument(help="The route's id (see `handles show`).")],
) -> None:
    """Remove a route."""
    settings = settings_or_fail()

    async def remove() -> None:
        async with session_scope(settings) as session:
            await links.remove_route(session, await links.get_handle(session, name), route_id)

    run(remove)
    out.print(f"route {route_id} removed from @{name}", highlight=False)


PageData = TypeVar("PageData", page_schemas.PageCreate, page_schemas.PageUpdate)
FIELD_SPEC = "key:label:text|select|checkbox[:required][:opt1|opt2]"
TitleOption = Annotated[str | None, typer.Option(help="The page's title (browser tab, previews).")]
HeadlineOption = Annotated[str | None, typer.Option(help="The big line at the top of the page.")]
BodyFileOption = Annotated[
    Path | None, typer.Option("--body-file", help="A Markdown file with the page's text.")
]
HeroOption = Annotated[str | None, typer.Option("--hero-image", help="An https:// image URL.")]
GiftKindOption = Annotated[str | None, typer.Option(help="url, file, code or text.")]
GiftOption = Annotated[
    str | None,
    typer.Option(help="The gift: a URL, a file's path, a code or a message (per --gift-kind)."),
]
GiftTitleOption = Annotated[str | None, typer.Option(help='e.g. "The 7-day checklist".')]
ThemeOption = Annotated[str | None, typer.Option(help="clean, bold or warm.")]
NameOption = Annotated[
    str | None, typer.Option("--name", help="The name field: off, optional or required.")
]
ConsentOption = Annotated[
    str | None, typer.Option(help="The consent checkbox's label (empty: no checkbox).")
]
FieldOption = Annotated[
    list[str] | None, typer.Option("--field", help=f"Repeatable, up to 5: {FIELD_SPEC}.")
]
OgTitleOption = Annotated[str | None, typer.Option(help="Title of link previews.")]
OgDescriptionOption = Annotated[str | None, typer.Option(help="Text of link previews.")]
OgImageOption = Annotated[str | None, typer.Option(help="An https:// image for link previews.")]


def _custom_field(spec: str) -> dict[str, object]:
    """`key:label:type[:required][:opt1|opt2]` as the schema's custom-field mapping."""
    parts = spec.split(":")
    if len(parts) < 3 or not all(parts[:3]):
        fail(f"--field {spec!r} is not {FIELD_SPEC}")
    key, label, kind, *rest = parts
    required = False
    if rest and rest[0] in {"required", "optional"}:
        required = rest.pop(0) == "required"
    field: dict[str, object] = {"key": key, "label": label, "type": kind, "required": required}
    if rest:
        field["options"] = ":".join(rest).split("|")
    return field


def _page_values(
    *,
    title: str | None,
    headline: str | None,
    body_file: Path | None,
    hero_image: str | None,
    gift_kind: str | None,
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
    """The options that were given, by the names of PageCreate/PageUpdate (the gift aside)."""
    values: dict[str, object] = {
        name: value
        for name, value in {
            "title": title,
            "headline": headline,
            "hero_image_url": hero_image,
            "gift_kind": gift_kind,
            "gift_title": gift_title,
            "theme": theme,
            "double_opt_in": double_opt_in,
            "name_field": name_field,
            "consent_text": consent_text,
            "og_title": og_title,
            "og_description": og_description,
            "og_image_url": og_image,
        }.items()
        if value is not None
    }
    if body_file is not None:
        try:
            values["body"] = body_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read --body-file {body_file}: {getattr(exc, 'strerror', None) or exc}")
    if fields is not None:
        values["custom_fields"] = [_custom_field(spec) for spec in fields]
    return values


def _page_data(model: type[PageData], values: dict[str, object]) -> PageData:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fail(page_schemas.field_errors(exc).detail)


def _store_gift(settings: Settings, kind: str | None, gift: str | None) -> dict[str, object]:
    """The gift options as page fields; a file gift is copied into the data directory first."""
    if gift is None:
        return {}
    if kind != "file":
        return {"gift_value": gift}
    path = Path(gift)
    try:
        stored = pages.store_gift_file(settings, path, path.name)
    except AppError as exc:
        fail(exc.detail)
    return {"gift_value": stored, "gift_file_name": path.name}


def _forget_gift_file(
    settings: Settings, stored_name: object, gift_values: dict[str, object] | None = None
) -> None:
    """Remove a stored gift file no page uses (after a failed command, or once replaced)."""
    if gift_values is not None and "gift_file_name" not in gift_values:
        return  # the gift was not a file this command stored
    path = pages.gift_file_path(settings, str(stored_name or ""))
    if path is not None:
        path.unlink(missing_ok=True)


@pages_cli.command("create")
def pages_create(
    handle: Annotated[str, typer.Argument(help="The handle the page belongs to.")],
    slug: Annotated[str, typer.Argument(help="The page's address: BASE_URL/p/SLUG.")],
    title: TitleOption = None,
    headline: HeadlineOption = None,
    body_file: BodyFileOption = None,
    hero_image: HeroOption = None,
    gift_kind: GiftKindOption = None,
    gift: GiftOption = None,
    gift_title: GiftTitleOption = None,
    theme: ThemeOption = None,
    double_opt_in: Annotated[
        bool, typer.Option("--double-opt-in/--no-double-opt-in", help="Confirm by email first.")
    ] = True,
    name_field: NameOption = None,
    consent_text: ConsentOption = None,
    field: FieldOption = None,
    og_title: OgTitleOption = None,
    og_description: OgDescriptionOption = None,
    og_image: OgImageOption = None,
) -> None:
    """Create a draft landing page (publish it with `leadlink pages publish SLUG`)."""
    settings = settings_or_fail()
    if title is None:
        fail("--title is required")
    values = _page_values(
        title=title,
        headline=headline,
        body_file=body_file,
        hero_image=hero_image,
        gift_kind=gift_kind,
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
    data = _page_data(page_schemas.PageCreate, {"slug": slug, **values})
    gift_values = _store_gift(settings, gift_kind, gift)
    if gift_values:
        data = _page_data(page_schemas.PageCreate, {"slug": slug, **values, **gift_values})

    async def create() -> str:
        async with session_scope(settings) as session:
            owner = await links.get_handle(session, handle)
            return (await pages.create_page(session, owner, data)).slug

    try:
        created = run(create)
    except typer.Exit:
        _forget_gift_file(settings, gift_values.get("gift_value"), gift_values)
        raise
    out.print(f"page created (draft): {settings.base_url}/p/{created}", highlight=False)


@pages_cli.command("update")
def pages_update(
    slug: Annotated[str, typer.Argument(help="The page's slug.")],
    new_slug: Annotated[
        str | None, typer.Option("--slug", help="Give the page a new slug.")
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
    clear_fields: Annotated[bool, typer.Option(help="Remove every custom field.")] = False,
    og_title: OgTitleOption = None,
    og_description: OgDescriptionOption = None,
    og_image: OgImageOption = None,
) -> None:
    """Change a page; only the options given change. An empty value clears an optional one."""
    settings = settings_or_fail()
    values = _page_values(
        title=title,
        headline=headline,
        body_file=body_file,
        hero_image=hero_image,
        gift_kind=gift_kind,
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
        values["slug"] = new_slug
    _page_data(page_schemas.PageUpdate, values)

    async def current_gift_kind() -> str:
        async with session_scope(settings) as session:
            return (await pages.get_page(session, slug)).gift_kind

    kind = gift_kind
    if gift is not None and kind is None:
        kind = run(current_gift_kind)  # --gift alone keeps the page's gift kind
    gift_values = _store_gift(settings, kind, gift)
    data = _page_data(page_schemas.PageUpdate, {**values, **gift_values})

    async def update() -> tuple[str, str | None]:
        async with session_scope(settings) as session:
            page = await pages.get_page(session, slug)
            old_file = page.gift_value if page.gift_kind == "file" else None
            page = await pages.update_page(session, page, data)
            still_used = page.gift_kind == "file" and page.gift_value == old_file
            return page.slug, None if still_used else old_file

    try:
        updated, replaced_file = run(update)
    except typer.Exit:
        _forget_gift_file(settings, gift_values.get("gift_value"), gift_values)
        raise
    _forget_gift_file(settings, replaced_file)
    out.print(f"page updated: {settings.base_url}/p/{updated}", highlight=False)


@pages_cli.command("publish")
def pages_publish(slug: Annotated[str, typer.Argument(help="The page's slug.")]) -> None:
    """Put a page online at BASE_URL/p/SLUG (and on its handle's routes)."""
    settings = settings_or_fail()

    async def publish() -> tuple[str, bool]:
        async with session_scope(settings) as session:
            page = await pages.publish_page(session, await pages.get_page(session, slug))
            return page.slug, pages.has_gift(page)

    published, has_gift = run(publish)
    out.print(f"page published: {settings.base_url}/p/{published}", highlight=False)
    if not has_gift:
        err.print(
            f"note: the page has no gift yet; set one with `leadlink pages update {published} "
            "--gift-kind … --gift …`",
            highlight=False,
        )


@pages_cli.command("archive")
def pages_archive(slug: Annotated[str, typer.Argument(help="The page's slug.")]) -> None:
    """Take a page offline (its links answer 404); its leads and reports stay."""
    settings = settings_or_fail()

    async def archive() -> str:
        async with session_scope(settings) as session:
            return (await pages.archive_page(session, await pages.get_page(session, slug))).slug

    out.print(f"page archived: {run(archive)}", highlight=False)


@pages_cli.command("list")
def pages_list(
    handle: Annotated[str | None, typer.Option(help="Only this handle's pages.")] = None,
) -> None:
    """List pages with their status, theme, gift and address."""
    settings = settings_or_fail()

    async def fetch() -> list[tuple[str, ...]]:
        async with session_scope(settings) as session:
            owner = await links.get_handle(session, handle) if handle else None
            names = {h.id: h.name for h in await links.list_handles(session)}
            return [
                (
                    page.slug,
                    names.get(page.handle_id, "?"),
                    page.status,
                    page.theme,
                    page.gift_kind if pages.has_gift(page) else "none",
                    page.title,
                    f"{settings.base_url}/p/{page.slug}",
                )
                for page in await pages.list_pages(session, owner)
            ]

    table = Table("slug", "handle", "status", "theme", "gift", "title", "link")
    for row in run(fetch):
        table.add_row(*(Text(cell) for cell in row))  # titles are text, not Rich markup
    out.print(table)


@pages_cli.command("preview")
def pages_preview(
    slug: Annotated[str, typer.Argument(help="The page's slug (drafts too).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the HTML here instead of stdout.")
    ] = None,
) -> None:
    """Render a page's HTML as visitors would get it, without recording a visit."""
    settings = settings_or_fail()

    async def render_page() -> str:
        async with session_scope(settings) as session:
            page = await pages.get_page(session, slug)
            return render_preview(page, base_url=settings.base_url)

    html = run(render_page)
    if out_file is None:
        sys.stdout.write(html)
        return
    try:
        out_file.write_text(html, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc.strerror or exc}")
    out.print(f"preview written to {out_file} ({len(html.encode()):,} bytes)", highlight=False)


def _password_from(stdin: bool) -> tuple[str, bool]:
    """The password piped in with --password-stdin, or a generated one (and whether it was)."""
    if not stdin:
        return users.generate_password(), True
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("--password-stdin was given but no password arrived on standard input")
    return password, False


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The address the owner signs in with.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an owner account. Without --password-stdin a strong password is generated and
    printed once; only its argon2 hash is stored."""
    settings = settings_or_fail()
    password, generated = _password_from(password_stdin)

    async def create() -> str:
        async with session_scope(settings) as session:
            return (await users.create_user(session, email, password)).email

    created = run(create)
    out.print(f"owner account created: {created}", highlight=False)
    if generated:
        out.print(f"password: {password}", highlight=False)
        err.print("Store it now: it is shown once and cannot be recovered.")
    out.print(f"sign in at {settings.base_url}/admin/login", highlight=False)


@users_cli.command("list")
def users_list() -> None:
    """List owner accounts and when they last signed in."""
    settings = settings_or_fail()

    async def fetch() -> list[tuple[str, ...]]:
        async with session_scope(settings) as session:
            return [
                (
                    str(user.id),
                    user.email,
                    user.created_at.isoformat(timespec="seconds"),
                    user.last_login_at.isoformat(timespec="seconds")
                    if user.last_login_at
                    else "never",
                )
                for user in await users.list_users(session)
            ]

    table = Table("id", "email", "created", "last sign-in")
    for row in run(fetch):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


@users_cli.command("password")
def users_password(
    email: Annotated[str, typer.Argument(help="The owner's address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password (generated and printed once unless --password-stdin) and sign the
    account out everywhere."""
    settings = settings_or_fail()
    password, generated = _password_from(password_stdin)

    async def change() -> None:
        async with session_scope(settings) as session:
            user = await users.get_user_by_email(session, email)
            await users.change_password(session, user, password)

    run(change)
    out.print(f"password changed for {users.normalize_email(email)}", highlight=False)
    if generated:
        out.print(f"password: {password}", highlight=False)
        err.print("Store it now: it is shown once and cannot be recovered.")


@metrics_cli.command("import")
def metrics_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: date,platform,likes,followers,impressions,comments,shares (header first)."
        ),
    ],
    handle: Annotated[str, typer.Option(help="The handle the numbers belong to.")],
) -> None:
    """Import daily social-metric snapshots; bad lines are reported, good ones kept (again: no
    change)."""  # fmt: skip
    settings = settings_or_fail()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")

    async def load() -> social_metrics.ImportResult:
        async with session_scope(settings) as session:
            found = await links.get_handle(session, handle)
            return await social_metrics.import_social_metrics_csv(session, found, text)

    result = run(load)
    out.print(f"{result.imported} rows imported for @{handle} from {file}", highlight=False)
    for line, message in result.errors:
        err.print(f"line {line}: {escape(message)}", highlight=False)
    if result.errors:
        fail(f"{len(result.errors)} lines skipped (the other rows were kept)")


def _report_cell(name: str, value: object) -> str:
    if value is None:
        return "—"
    if name in {"visit_to_lead", "like_to_lead", "lead_to_customer"} and isinstance(value, float):
        return f"{value:.1%}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _date_option(value: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        fail(f"{option} must be a date like 2026-11-22, not {value!r}")


@cli.command()
def report(
    handle: Annotated[str | None, typer.Option(help="A handle; default: every handle.")] = None,
    page: Annotated[str | None, typer.Option(help="Only this page (slug).")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 27 days ago).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (default: today).")] = None,
    group_by: Annotated[
        str, typer.Option(help=f"One of: {', '.join(reports.GROUPINGS)}.")
    ] = "source",
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV on stdout instead of a table.")
    ] = False,
) -> None:
    """The like-to-lead report: likes, visits, leads, confirmed, customers and rates."""
    settings = settings_or_fail()
    last = _date_option(end, "--to") or datetime.now(ZoneInfo(settings.report_tz)).date()
    first = _date_option(start, "--from") or last - timedelta(days=27)

    async def build() -> reports.Report:
        async with session_scope(settings) as session:
            found_handle, found_page = await reports.resolve_scope(
                session, visible=None, handle=handle, page=page
            )
            return await reports.conversion_report(
                session,
                handle=found_handle,
                page=found_page,
                start=first,
                end=last,
                group_by=group_by,
                source=source,
                tz=settings.report_tz,
            )

    result = run(build)
    if as_csv:
        sys.stdout.write(reports.report_csv(result))
        return
    scope = f"@{handle}" if handle else f"/p/{page}" if page else "all handles"
    table = Table(title=f"{scope}, {first} to {last} ({settings.report_tz})")
    columns = list(result.rows[0].fields_for(group_by)) if result.rows else ["source"]
    for name in columns:
        table.add_column(name.replace("_", " "), justify="left" if name in {"source", "day",
                         "week", "page", "page_id"} else "right")  # fmt: skip
    for row in result.rows:
        table.add_row(*(_report_cell(n, v) for n, v in row.fields_for(group_by).items()))
    totals = result.totals.fields_for("source")
    table.add_row(*(("total" if i == 0 else _report_cell(n, totals.get(n)))
                    for i, n in enumerate(columns)), style="bold")  # fmt: skip
    out.print(table)


@rollups_cli.command("rebuild")
def rollups_rebuild() -> None:
    """Recount the daily visit rollups from the raw visits, with days in LEADLINK_REPORT_TZ
    (run it after changing the report time zone)."""
    settings = settings_or_fail()

    async def rebuild() -> report_rollups.RebuildResult:
        async with session_scope(settings) as session:
            return await report_rollups.rebuild_rollups(session, settings.report_tz)

    result = run(rebuild)
    out.print(
        f"rollups rebuilt for {settings.report_tz}: {result.redated_visits} visits moved to "
        f"another day, {result.rollup_rows} rollup rows",
        highlight=False,
    )


@cli.command()
def version() -> None:
    """Print the leadlink version."""
    out.print(__version__)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
