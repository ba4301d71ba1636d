"""A CRM developer generates a Python client from `/openapi.json` with openapi-python-client:
it must generate without a warning, name its functions after the operationIds, and hand back
every error as the one `Problem` model."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import fetch_openapi
from tests.factories import World

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "examples" / "openapi-python-client.yaml"
PACKAGE = "leadlink_client"
# `make test` installs the generator into a virtualenv of its own: it pins an older Typer than
# leadlink's CLI runs on. LEADLINK_OPENAPI_CLIENT_BIN names another one's bin directory.
GENERATOR_BIN = Path(
    os.environ.get(
        "LEADLINK_OPENAPI_CLIENT_BIN", ROOT / ".venv" / "tools" / "openapi-python-client" / "bin"
    )
)


@dataclass(frozen=True)
class Generated:
    output: str
    package: Path


@pytest.fixture(scope="module")
async def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The client, generated as its documentation says, into a package of its own."""
    work = tmp_path_factory.mktemp("client")
    document = work / "openapi.json"
    document.write_text(json.dumps(await fetch_openapi(work)))
    package = work / PACKAGE
    bin_dir = GENERATOR_BIN
    assert (bin_dir / "openapi-python-client").exists(), (
        f"openapi-python-client is not installed in {bin_dir}: run `make test` (or set "
        "LEADLINK_OPENAPI_CLIENT_BIN to the bin directory of a virtualenv that has it)"
    )
    process = await asyncio.create_subprocess_exec(
        str(bin_dir / "openapi-python-client"),
        "generate",
        "--path",
        str(document),
        "--output-path",
        str(package),
        "--meta",
        "none",
        "--config",
        str(CONFIG),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # The generator formats its output with ruff (installed beside it) when it finds it, as
        # on a developer's machine; without it, it prints a notice for every skipped step.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    output = stdout.decode()
    assert process.returncode == 0, output
    return Generated(output, package)


@pytest.fixture
def client_package(generated: Generated) -> Iterator[str]:
    """The generated package, importable for the test's duration."""
    sys.path.insert(0, str(generated.package.parent))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(generated.package.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


async def test_the_client_generates_without_a_warning(generated: Generated) -> None:
    assert [line for line in generated.output.splitlines() if "warning" in line.lower()] == []


async def test_the_client_functions_are_named_after_the_operation_ids(
    generated: Generated, tmp_path: Path
) -> None:
    spec = await fetch_openapi(tmp_path)
    expected = {
        f"{operation['tags'][0]}/{operation['operationId'].replace('-', '_')}.py"
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for operation in item.values()
    }
    modules = {
        str(module.relative_to(generated.package / "api"))
        for module in (generated.package / "api").glob("*/*.py")
        if module.name != "__init__.py"
    }
    assert modules == expected
    assert "leads/leads_list.py" in modules
    assert "webhooks/webhooks_rotate_secret.py" in modules


async def test_the_client_reads_results_and_problems(
    client_package: str, app: Any, world: World
) -> None:
    api_client: Any = importlib.import_module(f"{client_package}.client")
    models: Any = importlib.import_module(f"{client_package}.models")
    leads_list: Any = importlib.import_module(f"{client_package}.api.leads.leads_list")
    leads_get: Any = importlib.import_module(f"{client_package}.api.leads.leads_get")
    leads_create: Any = importlib.import_module(f"{client_package}.api.leads.leads_create")
    crm = api_client.AuthenticatedClient(
        base_url="http://testserver",
        token=world.keys["rw"],
        httpx_args={"transport": httpx.ASGITransport(app=app)},
    )
    async with crm:
        listed = await leads_list.asyncio(client=crm)
        assert isinstance(listed, models.LeadList)
        assert sorted(lead.email for lead in listed.items) == [
            "fan@example.com",
            "other@example.com",
        ]

        missing = await leads_get.asyncio_detailed(lead_id="999999", client=crm)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert (missing.parsed.status, missing.parsed.title) == (404, "Not Found")

        body = models.LeadCreate(email="not an address", page=world.anna_page.slug)
        refused = await leads_create.asyncio_detailed(client=crm, body=body)
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)
        assert [error.field for error in refused.parsed.errors] == ["email"]
