"""`leadlink … --help` for every command, as read in an 80-column terminal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from app.cli import cli
from tests.cli_runner import invoke_leadlink
from tests.servers import serve_env


def _command_paths(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # `Any`: newer Typer releases vendor click's classes under a private module.
    paths = [path]
    for name, command in getattr(group, "commands", {}).items():
        paths += _command_paths(command, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(cli))


def test_every_command_is_covered() -> None:
    assert ("pages", "create") in COMMANDS
    assert ("rollups", "rebuild") in COMMANDS
    assert ("leads", "erase") in COMMANDS
    assert ("visits", "prune") in COMMANDS
    assert ("connections", "rotate-key") in COMMANDS
    # root, its 8 commands, 9 groups and theirs (keys, handles, pages, leads, users, metrics,
    # rollups, visits, connections)
    assert len(COMMANDS) == 1 + 8 + 9 + (3 + 6 + 6 + 1 + 3 + 1 + 1 + 1 + 2)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "leadlink")
def test_help_fits_80_columns_without_type_labels(path: tuple[str, ...], tmp_path: Path) -> None:
    env = serve_env(tmp_path, COLUMNS="80")
    result = invoke_leadlink(*path, "--help", env=env)

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(f"Usage: leadlink {' '.join(path)}".rstrip())
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert too_wide == []
    assert re.findall(r"<\w+(?:\[\w+\])?>", text) == []  # no <bool>, <str>, <path>, <list[str]>
    assert "{" not in text.split("\n", 1)[0]  # the usage line names arguments plainly
    # A group lists each command's first sentence whole, never cut off with "...".
    listed = text.partition("Commands:")[2]
    assert not [line for line in listed.splitlines() if line.endswith("...")]
