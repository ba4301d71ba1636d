"""The lock files pin what `make run`, the Dockerfile and CI install: every dependency that
pyproject.toml declares, at a version its lower bound admits."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)", re.MULTILINE)


def _pins(lock: str) -> dict[str, Version]:
    text = (ROOT / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        (
            "requirements-dev.lock",
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"],
        ),
    ],
)
def test_every_declared_dependency_is_pinned_within_its_bounds(
    lock: str, declared: list[str]
) -> None:
    pins = _pins(lock)
    problems = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in {lock}")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} breaks {requirement.specifier}")
    assert not problems, f"{lock} is out of date (run `make lock`): {problems}"


def test_the_run_lock_agrees_with_the_dev_lock() -> None:
    # CI installs the dev lock, `make run` and the image the run lock: the same versions.
    run, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    differ = {name: (run[name], dev.get(name)) for name in run if dev.get(name) != run[name]}
    assert not differ


def test_make_run_the_image_and_ci_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements.lock" in makefile
    assert "pip install --quiet -r requirements-dev.lock" in makefile
    assert "pip install -r requirements.lock" in (ROOT / "Dockerfile").read_text()
