"""Backups of the embedded SQLite database: a consistent copy taken while leadlink serves, and
its restore into a database no process has open.

The copy uses SQLite's online backup API (`sqlite3.Connection.backup`), never a file copy: a
copy of the file taken while a commit is written, or without its write-ahead log, can be torn
or miss the newest commits. The whole database is copied in one step, inside one read
transaction: a snapshot of every commit made before the step began. In WAL mode writers carry
on meanwhile (a copy made in several steps would restart each time another process commits,
and under steady opt-ins might never finish). The copy is checked (`PRAGMA integrity_check`,
the Alembic revision) before it takes its name, so a file at the target path is always whole.

A restore checks the backup the same way, refuses a database another process has open (a
running `leadlink serve` or `worker`, detected by taking SQLite's exclusive lock), and refuses
one that holds data unless forced; it writes through the same backup API into the target, so
the database's own locking and journal stay in charge.

PostgreSQL is backed up with its own tools, `pg_dump` and `pg_restore` (docs/backups.md).
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app import migrations
from app.config import Settings

__all__ = [
    "BackupError",
    "BackupReport",
    "RestoreReport",
    "backup_sqlite",
    "check_backup",
    "restore_sqlite",
    "sqlite_file",
]

SQLITE_HEADER = b"SQLite format 3\x00"
# How long a backup waits for a lock (a write being checkpointed), and how long a restore waits
# for other processes to let go of the database before calling it in use.
LOCK_WAIT_SECONDS = 10.0
IN_USE_WAIT_SECONDS = 2.0
POSTGRESQL_ADVICE = (
    "this instance uses PostgreSQL: back it up with `pg_dump -Fc` and restore it with "
    "`pg_restore` (docs/backups.md); `leadlink backup` and `restore` are for the embedded "
    "SQLite database"
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one line a person can act on."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size: int
    revision: str
    seconds: float


@dataclass(frozen=True, slots=True)
class RestoreReport:
    path: Path
    size: int
    revision: str
    seconds: float
    replaced_data: bool


def sqlite_file(settings: Settings) -> Path:
    """The embedded database's file, or a `BackupError` pointing PostgreSQL at its tools."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(POSTGRESQL_ADVICE)
    if not url.database or url.database == ":memory:":
        raise BackupError("LEADLINK_DATABASE_URL names no SQLite file to back up or restore")
    return Path(url.database)


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupReport:
    """Copy the database at `source` to `target` while other processes use it; an existing
    `target` is replaced only with `force` (and only once the new copy is whole)."""
    started = time.monotonic()
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.is_dir():
        raise BackupError(f"{target} is a directory; name the backup file")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself; name another file")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    # Created first, so the copy is private from its first byte: it holds personal data.
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with (
            closing(sqlite3.connect(source, timeout=LOCK_WAIT_SECONDS)) as live,
            closing(sqlite3.connect(partial, isolation_level=None)) as copy,
        ):
            live.backup(copy)  # pages=-1: everything in one step, one snapshot
            # One self-contained file, with no write-ahead log beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        revision = check_backup(partial)
        _sync(partial)
        partial.replace(target)
        _sync(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(target, target.stat().st_size, revision, time.monotonic() - started)


def check_backup(path: Path) -> str:
    """The Alembic revision of a leadlink SQLite backup, after checking that it is one: a SQLite
    file, whole (`PRAGMA integrity_check`), with a revision this version of leadlink knows."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is damaged: {problems[0]}")
            versioned = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            row = (
                db.execute("SELECT version_num FROM alembic_version").fetchone()
                if versioned
                else None
            )
            revision = str(row[0]) if row else ""
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as a SQLite database: {exc}") from None
    if not revision:
        raise BackupError(f"{path} is not a leadlink database (no schema revision in it)")
    if not migrations.is_known_revision(revision):
        raise BackupError(
            f"{path} has schema revision {revision}, which this leadlink does not know "
            "(a backup of a newer version, or of another application)"
        )
    return revision


def restore_sqlite(backup: Path, target: Path, *, force: bool = False) -> RestoreReport:
    """Bring the backup at `backup` back as the database at `target`. Refused while another
    process has `target` open, and when it holds data unless `force`."""
    started = time.monotonic()
    revision = check_backup(backup)
    if target.is_dir():
        raise BackupError(f"{target} is a directory, not the database file")
    if target.resolve() == backup.resolve():
        raise BackupError(f"{backup} is the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        # A write-ahead log without its database is left from a deleted one: SQLite would
        # replay it into the new file.
        for leftover in ("-wal", "-shm"):
            target.with_name(target.name + leftover).unlink(missing_ok=True)
    with closing(
        sqlite3.connect(target, isolation_level=None, timeout=IN_USE_WAIT_SECONDS)
    ) as database:
        _lock_for_this_process(database, target)
        replaced_data = _holds_data(database)
        if replaced_data and not force:
            raise BackupError(
                f"{target} holds data; pass --force to replace it with the backup "
                "(make a backup of it first)"
            )
        with closing(sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)) as source:
            source.backup(database)
        problems = [row[0] for row in database.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the restored {target} fails its integrity check: {problems[0]}")
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return RestoreReport(
        target, target.stat().st_size, revision, time.monotonic() - started, replaced_data
    )


def _lock_for_this_process(database: sqlite3.Connection, target: Path) -> None:
    """Take SQLite's exclusive lock and keep it until the connection closes. Every process with
    the database open (each pooled connection of `leadlink serve` or `worker`) holds a shared
    lock on it in WAL mode, so this fails while any of them runs."""
    database.execute("PRAGMA locking_mode=EXCLUSIVE")
    try:
        database.execute("BEGIN EXCLUSIVE")
        database.execute("COMMIT")
    except sqlite3.OperationalError:
        raise BackupError(
            f"{target} is open in another process (a running `leadlink serve` or `worker`?); "
            "stop every leadlink process using it, then restore"
        ) from None


def _holds_data(database: sqlite3.Connection) -> bool:
    """Whether any table but Alembic's has a row: a freshly migrated database holds none."""
    tables = [
        row[0]
        for row in database.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
        )
    ]
    # Table names read from the schema itself, quoted as identifiers.
    quoted = ('"' + name.replace('"', '""') + '"' for name in tables)
    return any(
        database.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone()  # noqa: S608
        for name in quoted
    )


def _sync(path: Path) -> None:
    """Flush a file (or a directory's entries) to the disk, so a backup survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
