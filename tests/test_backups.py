"""`leadlink backup` and `leadlink restore` as an operator meets them: a private, self-contained,
checked copy; a restore that brings the data back; and the refusals, each one clear line with
exit status 1: an existing backup file, a file that is no leadlink backup (not SQLite, damaged,
another application's, a newer version's), a database with data or open in another process, and
PostgreSQL, which has its own tools. (The backup under load: tests/reliability.)"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from app import migrations
from tests.cli_runner import invoke_leadlink
from tests.servers import serve_env


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = invoke_leadlink(*args, env=env)
    return result.exit_code, result.stdout, result.stderr


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(query).fetchall()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite database with the demo in it."""
    env = serve_env(tmp_path_factory.mktemp("live"))
    assert run("migrate", env=env)[0] == 0
    assert run("demo", env=env)[0] == 0
    return env


@pytest.fixture(scope="module")
def backup_file(live: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("backups") / "nightly" / "leadlink.db"
    code, out, err = run("backup", str(target), env=live)
    assert code == 0, err
    assert out.startswith(f"backup written to {target}: ")
    assert f"schema revision {migrations.head_revision()}" in out
    return target


def database_of(env: dict[str, str]) -> Path:
    return Path(env["LEADLINK_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))


def test_a_backup_is_a_private_self_contained_copy(live: dict[str, str], backup_file: Path) -> None:
    assert backup_file.stat().st_mode & 0o777 == 0o600  # it holds personal data
    assert rows(backup_file, "PRAGMA journal_mode") == [("delete",)]
    assert not backup_file.with_name(backup_file.name + "-wal").exists()
    assert rows(backup_file, "PRAGMA integrity_check") == [("ok",)]
    for table in ("pages", "handles", "visits", "users", "api_keys"):
        query = f"SELECT count(*) FROM {table}"
        assert rows(backup_file, query) == rows(database_of(live), query), table
    assert [p.name for p in backup_file.parent.iterdir()] == [backup_file.name]  # no leftovers


def test_an_existing_backup_file_is_replaced_only_with_force(
    live: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "leadlink.db"
    target.write_bytes(b"last week's backup")
    code, _, err = run("backup", str(target), env=live)
    assert (code, err.strip()) == (1, f"error: {target} exists; pass --force to replace it")
    assert target.read_bytes() == b"last week's backup"
    assert run("backup", str(target), "--force", env=live)[0] == 0
    assert rows(target, "PRAGMA integrity_check") == [("ok",)]
    itself = database_of(live)
    code, _, err = run("backup", str(itself), "--force", env=live)
    assert (code, err.strip()) == (1, f"error: {itself} is the database itself; name another file")


def test_a_restore_brings_the_data_back_into_a_fresh_data_directory(
    live: dict[str, str], backup_file: Path, tmp_path: Path
) -> None:
    fresh = serve_env(tmp_path / "fresh")
    code, out, err = run("restore", str(backup_file), env=fresh)
    assert code == 0, err
    assert out.startswith(f"restored {database_of(fresh)} from {backup_file}: ")
    assert err == ""  # the schema is current: nothing to migrate
    query = "SELECT slug, title FROM pages ORDER BY id"
    assert rows(database_of(fresh), query) == rows(database_of(live), query)
    assert rows(database_of(fresh), "PRAGMA integrity_check") == [("ok",)]


def test_a_freshly_migrated_database_holds_no_data_and_is_replaced(
    backup_file: Path, tmp_path: Path
) -> None:
    fresh = serve_env(tmp_path / "fresh")
    assert run("migrate", env=fresh)[0] == 0
    code, _, err = run("restore", str(backup_file), env=fresh)
    assert code == 0, err
    assert rows(database_of(fresh), "SELECT count(*) FROM pages") == [(1,)]


def test_a_database_with_data_is_replaced_only_with_force(
    live: dict[str, str], backup_file: Path, tmp_path: Path
) -> None:
    other = serve_env(tmp_path / "other")
    assert run("migrate", env=other)[0] == 0
    assert run("handles", "create", "mine", env=other)[0] == 0
    code, _, err = run("restore", str(backup_file), env=other)
    assert code == 1
    assert err.startswith(f"error: {database_of(other)} holds data; pass --force")
    assert rows(database_of(other), "SELECT name FROM handles") == [("mine",)]
    assert run("restore", str(backup_file), "--force", env=other)[0] == 0
    assert rows(database_of(other), "SELECT name FROM handles") == [("demo",)]


def test_a_database_open_in_another_connection_is_never_replaced(
    backup_file: Path, tmp_path: Path
) -> None:
    busy = serve_env(tmp_path / "busy")
    assert run("migrate", env=busy)[0] == 0
    with closing(sqlite3.connect(database_of(busy))) as reader:  # as a server's pool would
        reader.execute("SELECT count(*) FROM pages").fetchall()
        code, _, err = run("restore", str(backup_file), "--force", env=busy)
    assert code == 1
    assert "is open in another process" in err
    assert rows(database_of(busy), "SELECT count(*) FROM pages") == [(0,)]


def _damaged(backup_file: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged.db"
    shutil.copyfile(backup_file, copy)
    with copy.open("r+b") as file:  # scribble over the middle of the file, past the header page
        file.seek(copy.stat().st_size // 2)
        file.write(b"\xff" * 8192)
    return copy


def _foreign(tmp_path: Path) -> Path:
    path = tmp_path / "other-app.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.commit()
    return path


def _newer(backup_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "newer.db"
    shutil.copyfile(backup_file, path)
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE alembic_version SET version_num = '2099_01_01_0099'")
        db.commit()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda backup, tmp: tmp / "missing.db", "is not a file"),
        (lambda backup, tmp: tmp, "is not a file"),
        (lambda backup, tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hi"))[0],
         "is not a SQLite database"),
        (_damaged, "damaged"),
        (lambda backup, tmp: _foreign(tmp), "is not a leadlink database"),
        (_newer, "has schema revision 2099_01_01_0099, which this leadlink does not know"),
    ],
    ids=["missing", "a directory", "not sqlite", "damaged", "another application", "newer"],
)  # fmt: skip
def test_what_is_no_leadlink_backup_is_refused(
    backup_file: Path, tmp_path: Path, make: object, message: str
) -> None:
    candidate = make(backup_file, tmp_path)  # type: ignore[operator]
    fresh = serve_env(tmp_path / "fresh")
    code, _, err = run("restore", str(candidate), env=fresh)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not database_of(fresh).exists()  # nothing was made


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_postgresql_is_pointed_at_its_own_tools(command: str, tmp_path: Path) -> None:
    env = serve_env(
        tmp_path, LEADLINK_DATABASE_URL="postgresql+asyncpg://leadlink@db.invalid/leadlink"
    )
    (tmp_path / "file.db").write_bytes(b"")
    code, _, err = run(command, str(tmp_path / "file.db"), env=env)
    assert code == 1
    assert "this instance uses PostgreSQL" in err
    assert "pg_dump -Fc" in err
    assert "docs/backups.md" in err
