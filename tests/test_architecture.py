"""The layout docs/architecture.md describes is the layout of the tree: the layers in front of
FastAPI, the direction of imports between packages, and the role of every module."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from app.api_keys.middleware import ApiBodyGate
from app.config import load_settings
from app.leads.middleware import OptInMiddleware
from app.links.middleware import OneLinkMiddleware
from app.main import LeadlinkApp, create_app
from app.observability import RequestLogMiddleware
from app.security_headers import SecurityHeadersMiddleware

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_the_layers_in_front_of_fastapi_run_in_the_documented_order(tmp_path: Path) -> None:
    settings = load_settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'layers.db'}",
        secret_key="layers-" + "x" * 40,
    )
    app = create_app(settings)
    assert isinstance(app, LeadlinkApp)
    layers: list[type] = []
    layer = app.front
    while hasattr(layer, "app"):
        layers.append(type(layer))
        layer = layer.app
    assert layers == [
        OneLinkMiddleware,
        RequestLogMiddleware,
        SecurityHeadersMiddleware,
        OptInMiddleware,
        ApiBodyGate,
    ]
    # Below the last layer is FastAPI itself, with its own middleware stack and routing.
    assert getattr(layer, "__self__", None) is app


def test_imports_between_packages_run_the_documented_way() -> None:
    # The contracts live in pyproject.toml ([tool.importlinter]); this fails on a wrong import.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _documented_names() -> set[str]:
    """Every `name.py` and `app/…` path written in backquotes in docs/architecture.md."""
    return set(re.findall(r"`([\w/.]+\.py)`", ARCHITECTURE.read_text(encoding="utf-8")))


def test_every_module_has_a_documented_role() -> None:
    documented = _documented_names()
    undocumented = []
    for module in sorted((ROOT / "app").rglob("*.py")):
        relative = module.relative_to(ROOT).as_posix()
        if module.name == "__init__.py" and module.stat().st_size < 300:
            continue  # a package docstring only
        if module.name not in documented and relative not in documented:
            undocumented.append(relative)
    assert not undocumented, f"modules docs/architecture.md does not place: {undocumented}"


def test_the_documented_modules_exist() -> None:
    paths = {name for name in _documented_names() if name.startswith("app/")}
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names modules that are gone: {missing}"
