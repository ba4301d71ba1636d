"""The hostile request tables of cases.py, one test id per case: on every database backend
(`REQUESTS`), or once, on SQLite (`ONCE`: no backend changes their answer)."""

from __future__ import annotations

import pytest

from tests.hostile.cases import ONCE, REQUESTS, Case
from tests.hostile.harness import run_case
from tests.hostile.world import World


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in REQUESTS])
async def test_hostile_request(world: World, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    await run_case(world, case, caplog)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in ONCE])
async def test_hostile_request_once(
    http_world: World, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    await run_case(http_world, case, caplog)
