"""The `leadlink` command as a newcomer and an operator use it. The commands run in-process
(a subprocess costs a second or more each); the last test runs the real console script."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from app import __version__
from tests.cli_runner import invoke_leadlink, run_leadlink, sqlite_rows
from tests.servers import serve_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return serve_env(tmp_path)


@pytest.fixture
def migrated_env(env: dict[str, str]) -> dict[str, str]:
    result = invoke_leadlink("migrate", env=env)
    assert result.exit_code == 0, result.output
    return env


def test_demo_seeds_once_and_shows_the_key_once(migrated_env: dict[str, str]) -> None:
    first = invoke_leadlink("demo", env=migrated_env)
    assert first.exit_code == 0, first.output
    secrets = re.findall(r"ll_[A-Za-z0-9_-]{40,}", first.stdout)
    assert len(secrets) == 1
    assert "/p/demo" in first.stdout

    second = invoke_leadlink("demo", env=migrated_env)
    assert second.exit_code == 0, second.output
    assert "ll_" not in second.stdout
    assert sqlite_rows(migrated_env, "SELECT name FROM handles") == [("demo",)]
    assert sqlite_rows(migrated_env, "SELECT slug, status FROM pages") == [("demo", "published")]
    stored = sqlite_rows(migrated_env, "SELECT secret_hash, scopes FROM api_keys")
    assert stored == [
        (
            hashlib.sha256(secrets[0].encode()).hexdigest(),
            "leads:read leads:write pages:write reports:read admin",
        )
    ]


def test_keys_create_list_revoke(migrated_env: dict[str, str]) -> None:
    assert invoke_leadlink("demo", env=migrated_env).exit_code == 0
    created = invoke_leadlink(
        "keys", "create", "--name", "CRM", "--scope", "leads:read", "--handle", "demo",
        env=migrated_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = re.findall(r"ll_[A-Za-z0-9_-]{40,}", created.stdout)[0]
    assert "shown once" in created.stderr

    listed = invoke_leadlink("keys", "list", env={**migrated_env, "COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "CRM" in listed.stdout
    rows = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "│ demo " in rows["CRM"]  # restricted to the handle demo
    assert "│ all " in rows["demo (all scopes)"]  # the demo key sees every handle
    assert secret[:11] in listed.stdout
    assert secret not in listed.stdout
    [row] = [line for line in listed.stdout.splitlines() if secret[:11] in line]
    assert "demo" in row  # the handle restriction
    assert sqlite_rows(
        migrated_env,
        "SELECT h.name FROM api_key_handles k JOIN handles h ON h.id = k.handle_id",
    ) == [("demo",)]

    key_id = sqlite_rows(migrated_env, "SELECT id FROM api_keys WHERE name = 'CRM'")[0][0]
    revoked = invoke_leadlink("keys", "revoke", str(key_id), env=migrated_env)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in invoke_leadlink("keys", "list", env=migrated_env).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--name", "x", "--scope", "everything"), "Unknown scope 'everything'"),
        (
            ("keys", "create", "--name", "x", "--scope", "admin", "--handle", "nobody"),
            "There is no handle 'nobody'",
        ),
        (("keys", "revoke", "999"), "There is no such API key"),
    ],
)
def test_bad_key_commands_fail_with_one_line(
    migrated_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = invoke_leadlink(*args, env=migrated_env)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sqlite_rows(migrated_env, "SELECT count(*) FROM api_keys") == [(0,)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "no schema yet; run `leadlink migrate`"),
        ({"LEADLINK_DATABASE_URL": "nosuchdb://x"}, "LEADLINK_DATABASE_URL is not usable"),
        (
            {"LEADLINK_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x"},
            "cannot use the database",
        ),
        (
            {"LEADLINK_ENV": "production", "LEADLINK_SECRET_KEY": "changeme"},
            "LEADLINK_SECRET_KEY is missing or a placeholder",
        ),
        ({"LEADLINK_TRUSTED_PROXIES": "nonsense"}, "invalid LEADLINK_* setting"),
    ],
)
def test_serve_refuses_to_start_with_one_readable_line(
    env: dict[str, str], overrides: dict[str, str], message: str
) -> None:
    result = invoke_leadlink("serve", "--port", "1", env={**env, **overrides})
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_schema_behind_head(migrated_env: dict[str, str]) -> None:
    path = migrated_env["LEADLINK_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'older'")
    result = invoke_leadlink("serve", "--port", "1", env=migrated_env)
    assert result.exit_code == 1
    assert "schema is at older" in result.stderr


def test_the_console_script_runs_and_fails_with_one_line(env: dict[str, str]) -> None:
    """The installed `leadlink` entry point itself: output, exit status, no traceback."""
    assert run_leadlink("version", env=env).stdout.strip() == __version__
    help_text = run_leadlink("--help", env=env).stdout
    for command in ("serve", "migrate", "worker", "demo", "keys", "version"):
        assert command in help_text
    assert "Deliver the outbox" in run_leadlink("worker", "--help", env=env).stdout

    refused = run_leadlink("keys", "list", env=env)  # no schema yet
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: ")
    assert len(refused.stderr.splitlines()) == 1
    assert "Traceback" not in refused.stderr
