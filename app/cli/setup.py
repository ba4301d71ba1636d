"""`leadlink migrate` and `leadlink demo`: bring the database to the code's schema (and copy in
the uploaded files older versions kept on this server's disk), and seed the demo once."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from app import migrations
from app.command import CommandScope, engine_or_fail, err, out, run, settings_or_fail, with_database
from app.config import Settings
from app.demo import DEMO_HANDLE, DEMO_OWNER_EMAIL, seed_demo
from app.pages import files
from app.reports import rollups as reports_rollups

__all__ = ["demo", "migrate"]


def migrate() -> None:
    """Apply the database migrations (safe to run again).

    Uploaded files an older version kept under LEADLINK_DATA_DIR are then copied into the
    database; run it on each server that has some.
    """
    settings = settings_or_fail()
    run(_upgrade(settings))
    out.print(f"database is at revision {migrations.head_revision()}", highlight=False)
    _zone_in_step()
    _files_in_database()


async def _upgrade(settings: Settings) -> None:
    # A migration may rewrite a large table (partitioning `visits` copies it): no per-statement
    # deadline on PostgreSQL, where the app's engines cancel a statement after a few seconds.
    url = make_url(settings.effective_database_url)
    unbounded = {"command_timeout": None} if url.get_backend_name() == "postgresql" else {}
    engine = engine_or_fail(settings, connect_args=unbounded)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@with_database
async def _zone_in_step(cmd: CommandScope) -> None:
    tz = cmd.settings.report_tz
    if not await reports_rollups.sync_report_zone(cmd.session, tz):
        err.print(
            f"warning: the report's daily rollups are kept in another time zone than "
            f"LEADLINK_REPORT_TZ={tz}; run `leadlink rollups rebuild`",
            highlight=False,
        )


@with_database
async def _files_in_database(cmd: CommandScope) -> None:
    copied = await files.import_files_from_disk(cmd.session, cmd.settings.data_dir)
    if copied:
        out.print(
            f"{copied} uploaded file(s) copied from {cmd.settings.data_dir} into the database",
            highlight=False,
        )


@with_database
async def demo(cmd: CommandScope) -> None:
    """Seed the demo once and print where to look.

    The demo handle and page, an owner account and an all-scopes API key.
    """
    seeded = await seed_demo(cmd.session, report_tz=cmd.settings.report_tz)
    await cmd.commit()  # the key and the password are shown once: only once they exist
    base = cmd.settings.base_url
    out.print("[bold]leadlink demo[/]")
    out.print(f"  one link       {base}/@{DEMO_HANDLE}", highlight=False)
    out.print(f"  landing page   {base}/p/demo", highlight=False)
    out.print(f"  API docs       {base}/docs", highlight=False)
    out.print(f"  health         {base}/healthz  ·  {base}/readyz", highlight=False)
    out.print(f"  admin          {base}/admin", highlight=False)
    if seeded.owner_password:
        out.print(f"  admin login    {DEMO_OWNER_EMAIL}", highlight=False)
        out.print(f"  admin password {seeded.owner_password}", highlight=False)
        out.print("                 (shown once; `leadlink users password EMAIL` sets a new one)")
    if seeded.api_key_secret:
        out.print(f"  API key        {seeded.api_key_secret}", highlight=False)
        out.print("                 (all scopes; shown once, only its hash is stored)")
    else:
        out.print(
            "  API key        shown on the first start only; `leadlink keys create` makes one"
        )
