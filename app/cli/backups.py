"""`leadlink backup` and `leadlink restore`: a consistent copy of the embedded SQLite database
taken while leadlink serves, and bringing one back (the rules are in `app.backups`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from app import backups, migrations
from app.command import err, fail, out, settings_or_fail

__all__ = ["backup", "restore"]


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} KB"


def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the copy.")],
    force: Annotated[
        bool, typer.Option("--force", show_default=False, help="Replace FILE if it exists.")
    ] = False,
) -> None:
    """Copy the SQLite database while leadlink serves.

    SQLite's online backup: one consistent snapshot of every commit made before it began;
    opt-ins and visits carry on meanwhile. The copy is checked, then written to FILE (mode
    0600). On PostgreSQL use pg_dump instead (docs/backups.md).
    """
    settings = settings_or_fail()
    try:
        report = backups.backup_sqlite(backups.sqlite_file(settings), file, force=force)
    except backups.BackupError as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"the backup failed: {getattr(exc, 'strerror', None) or exc}")
    out.print(
        f"backup written to {report.path}: {_size(report.size)}, schema revision "
        f"{report.revision}, in {report.seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )


def restore(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A `leadlink backup` file.")],
    force: Annotated[
        bool,
        typer.Option("--force", show_default=False, help="Replace a database that holds data."),
    ] = False,
) -> None:
    """Bring a backup back as the SQLite database.

    FILE must be a whole leadlink backup (integrity check, schema revision). Refused while
    a leadlink process has the database open; a database that holds data is replaced only
    with --force. On PostgreSQL use pg_restore instead (docs/backups.md).
    """
    settings = settings_or_fail()
    try:
        report = backups.restore_sqlite(file, backups.sqlite_file(settings), force=force)
    except backups.BackupError as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"the restore failed: {getattr(exc, 'strerror', None) or exc}")
    out.print(
        f"restored {report.path} from {file}: {_size(report.size)}, schema revision "
        f"{report.revision}, in {report.seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )
    if report.revision != migrations.head_revision():
        err.print(
            f"note: this version needs schema revision {migrations.head_revision()}; "
            "run `leadlink migrate` before `leadlink serve`",
            highlight=False,
        )
