"""`leadlink users …` and the demo owner. The commands run in-process (a subprocess costs
seconds each); the browser test runs the real `leadlink demo` and signs in with its output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_runner import invoke_leadlink
from tests.servers import serve_env

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(tmp_path: Path) -> Invoke:
    env = serve_env(tmp_path)

    def run(*args: str, stdin: str | None = None) -> Result:
        return invoke_leadlink(*args, env=env, stdin=stdin)

    assert run("migrate").exit_code == 0
    return run


def test_users_create_list_and_password(invoke: Invoke) -> None:
    run = invoke
    created = run("users", "create", "Anna@Example.com")
    assert created.exit_code == 0, created.output
    assert "admin account created: anna@example.com" in created.stdout
    generated = re.search(r"password: (\S+)", created.stdout)
    assert generated
    assert len(generated.group(1)) >= 20
    assert "shown once" in created.stderr

    piped = run("users", "create", "bob@example.com", "--password-stdin", stdin="s3cret-enough\n")
    assert piped.exit_code == 0, piped.output
    assert "password:" not in piped.stdout  # a password the owner chose is never echoed

    again = run("users", "create", "anna@example.com")
    assert again.exit_code == 1
    assert "already an account for anna@example.com" in again.stderr

    short = run("users", "create", "c@example.com", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1
    assert "at least 10 characters" in short.stderr
    empty = run("users", "create", "c@example.com", "--password-stdin", stdin="")
    assert empty.exit_code == 1
    assert "no password arrived" in empty.stderr

    listed = run("users", "list")
    assert listed.exit_code == 0
    assert "anna@example.com" in listed.stdout
    assert "bob@example.com" in listed.stdout
    assert "never" in listed.stdout
    assert generated.group(1) not in listed.stdout

    changed = run("users", "password", "ANNA@example.com")
    assert changed.exit_code == 0, changed.output
    assert "password changed for anna@example.com" in changed.stdout
    assert re.search(r"password: (\S+)", changed.stdout)
    missing = run("users", "password", "nobody@example.com")
    assert missing.exit_code == 1
    assert "no such account" in missing.stderr


def test_the_demo_prints_the_owner_password_once(invoke: Invoke) -> None:
    run = invoke
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "owner@demo.local" in first.stdout
    password = re.search(r"admin password (\S+)", first.stdout)
    assert password
    assert "/admin" in first.stdout

    second = run("demo")
    assert second.exit_code == 0
    assert "admin password" not in second.stdout
    assert password.group(1) not in second.stdout


def test_users_create_an_owner_of_some_handles_and_list_them(invoke: Invoke) -> None:
    run = invoke
    for name in ("anna", "bob"):
        assert run("handles", "create", name).exit_code == 0
    created = run(
        "users", "create", "o@example.com", "--role", "owner", "--handle", "anna", "--handle", "bob"
    )
    assert created.exit_code == 0, created.output
    assert "owner account created: o@example.com" in created.stdout
    assert run("users", "create", "p@example.com", "--role", "owner").exit_code == 1
    unknown = run("users", "create", "p@example.com", "--role", "owner", "--handle", "carol")
    assert unknown.exit_code == 1
    assert "no handle 'carol'" in unknown.stderr
    assert run("users", "create", "q@example.com", "--handle", "anna").exit_code == 1

    listed = run("users", "list")
    assert listed.exit_code == 0
    [row] = [line for line in listed.stdout.splitlines() if "o@example.com" in line]
    assert "owner" in row
    assert "anna, bob" in row
