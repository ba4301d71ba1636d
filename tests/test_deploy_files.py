"""Docker does not run here, so the Dockerfile and compose.yaml are checked against the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
import yaml

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def _assert_runs_in_cli(argv: list[str]) -> None:
    """The command exists and click accepts its options, exactly as the container passes them."""
    assert argv[0] == "leadlink"
    group = typer.main.get_command(cli)
    command = getattr(group, "commands", {}).get(argv[1])
    assert command is not None, f"`leadlink {argv[1]}` does not exist"
    context = command.make_context(argv[1], argv[2:], resilient_parsing=False)
    assert context.params is not None


def test_dockerfile_cmd_serves_only() -> None:
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)[-1])
    assert cmd[:2] == ["leadlink", "serve"]
    _assert_runs_in_cli(cmd)
    assert "migrate" not in cmd


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    assert len(re.findall(r"^FROM python:3\.\d+-slim", DOCKERFILE, re.MULTILINE)) == 2
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE.split("HEALTHCHECK", 1)[1]


@pytest.mark.parametrize("service", ["migrate", "web", "worker"])
def test_compose_commands_exist_in_the_cli(service: str) -> None:
    _assert_runs_in_cli(COMPOSE["services"][service]["command"])


def test_compose_migrates_before_serving_on_postgresql() -> None:
    services = COMPOSE["services"]
    assert services["migrate"]["command"][1] == "migrate"
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    url = services["web"]["environment"]["LEADLINK_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://")


def test_copied_paths_exist() -> None:
    for source in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, re.MULTILINE):
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_compose_delivers_the_outbox_in_the_worker_service_only() -> None:
    services = COMPOSE["services"]
    assert services["worker"]["command"][:2] == ["leadlink", "worker"]
    assert services["web"]["environment"]["LEADLINK_OUTBOX_IN_PROCESS"] == "false"
    assert (
        services["worker"]["environment"]["LEADLINK_DATABASE_URL"]
        == (services["web"]["environment"]["LEADLINK_DATABASE_URL"])
    )
    assert services["worker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
