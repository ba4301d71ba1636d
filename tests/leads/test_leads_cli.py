"""`leadlink leads erase` as an operator runs it for a person who asks to be forgotten: by
address (every lead of it, on every handle) or by one lead's id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.db import Database, create_engine
from tests.cli_runner import cli_settings, invoke_leadlink, sqlite_rows
from tests.factories import add_handle, add_lead, add_page
from tests.servers import serve_env


async def _seed(env: dict[str, str]) -> None:
    """The same address on two handles' pages, and someone else's lead."""
    database = Database(create_engine(cli_settings(env)))
    try:
        async with database.session() as session:
            for name in ("anna", "bob"):
                page = await add_page(session, await add_handle(session, name), f"{name}-guide")
                await add_lead(session, page, "fan@example.com", name="Fan")
            await add_lead(session, page, "other@example.com")
            await session.commit()
    finally:
        await database.dispose()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = serve_env(tmp_path)
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    asyncio.run(_seed(env))
    return env


def test_erase_by_address_erases_every_lead_of_it_once(env: dict[str, str]) -> None:
    erased = invoke_leadlink("leads", "erase", "--email", " Fan@Example.com ", env=env)
    assert erased.exit_code == 0, erased.output
    assert erased.stdout.strip() == "2 leads erased."
    assert sqlite_rows(env, "SELECT email FROM leads WHERE erased_at IS NULL") == [
        ("other@example.com",)
    ]
    assert sqlite_rows(env, "SELECT count(*) FROM leads WHERE name = 'Fan'") == [(0,)]

    again = invoke_leadlink("leads", "erase", "--email", "fan@example.com", env=env)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "0 leads erased."


def test_erase_by_id(env: dict[str, str]) -> None:
    ((lead_id,),) = sqlite_rows(env, "SELECT id FROM leads WHERE email = 'other@example.com'")
    erased = invoke_leadlink("leads", "erase", "--id", str(lead_id), env=env)
    assert erased.exit_code == 0, erased.output
    assert erased.stdout.strip() == "1 lead erased."
    twice = invoke_leadlink("leads", "erase", "--id", str(lead_id), env=env)
    assert twice.exit_code == 1
    assert "error:" in twice.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--email", "not an address"), "email address is not valid"),
        ((), "give either --email ADDRESS or --id ID"),
        (("--email", "fan@example.com", "--id", "1"), "give either --email ADDRESS or --id ID"),
    ],
)
def test_bad_erase_commands_fail_with_one_line(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = invoke_leadlink("leads", "erase", *args, env=env)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sqlite_rows(env, "SELECT count(*) FROM leads WHERE erased_at IS NOT NULL") == [(0,)]
