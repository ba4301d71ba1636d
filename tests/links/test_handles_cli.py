"""`leadlink handles …` as a creator runs it: create a handle, point it at pages and URLs, look at
it, undo a route; and every mistake ends with one clear line and exit status 1.
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import Result

from tests.cli_runner import invoke_leadlink, sqlite_rows
from tests.servers import serve_env

BASE_URL = "https://links.example.com"


def _prepare(env: dict[str, str], *, with_handle: bool) -> None:
    """Migrate the CLI's database; add handle `anna` with two published pages, and optionally
    handle `demo` with its page `demo`."""
    commands = [("migrate",), ("handles", "create", "anna")]
    for slug in ("gift-a", "gift-b"):
        commands += [("pages", "create", "anna", slug, "--title", slug), ("pages", "publish", slug)]
    if with_handle:
        commands += [
            ("handles", "create", "demo"),
            ("pages", "create", "demo", "demo", "--title", "Demo"),
            ("pages", "publish", "demo"),
        ]
    for command in commands:
        _ok(invoke_leadlink(*command, env=env))


def _state(env: dict[str, str], name: str) -> tuple[object, list[tuple[object, ...]]]:
    """The handle's default page slug and its routes (source, variant, weight, page, url)."""
    ((default,),) = sqlite_rows(
        env,
        "SELECT p.slug FROM handles h LEFT JOIN pages p ON p.id = h.default_page_id "
        f"WHERE h.name = '{name}'",
    )
    routes = sqlite_rows(
        env,
        "SELECT r.source, r.variant, CAST(r.weight AS TEXT), p.slug, r.target_url FROM routes r "
        "JOIN handles h ON h.id = r.handle_id LEFT JOIN pages p ON p.id = r.page_id "
        f"WHERE h.name = '{name}' ORDER BY r.id",
    )
    return default, routes


def _env(data_dir: Path) -> dict[str, str]:
    return serve_env(data_dir, LEADLINK_BASE_URL=BASE_URL)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def test_create_route_show_and_unroute_a_handle(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _prepare(env, with_handle=False)

    created = _ok(invoke_leadlink("handles", "create", "@Maya", "--display-name", "Maya", env=env))
    assert created.strip() == f"handle created: {BASE_URL}/@maya"

    # Anna's pages exist; route her visitors.
    default = _ok(invoke_leadlink("handles", "default", "anna", "--page", "gift-b", env=env))
    assert default.strip() == "@anna now opens /p/gift-b by default"
    tiktok = _ok(
        invoke_leadlink(
            "handles", "route", "anna", "--source", "tt", "--page", "gift-a",
            "--variant", "tiktok-a", "--weight", "3", env=env,
        )
    )  # fmt: skip
    match = re.fullmatch(r"route (\d+) added to @anna", tiktok.strip())
    assert match is not None, tiktok
    tiktok_route = match.group(1)
    shop = _ok(
        invoke_leadlink(
            "handles", "route", "anna", "--url", "https://shop.example.com/spring?x=1", env=env
        )
    )
    assert re.fullmatch(r"route \d+ added to @anna", shop.strip()), shop

    shown = _ok(invoke_leadlink("handles", "show", "anna", env=env))
    assert shown.splitlines()[0] == "@anna: default page gift-b"
    tiktok_row = next(line for line in shown.splitlines() if f" {tiktok_route} " in line)
    for cell in ("tiktok", "tiktok-a", "3", "page gift-a"):
        assert cell in tiktok_row
    assert "https://shop.example.com/spring?x=1" in shown
    assert _state(env, "anna") == (
        "gift-b",
        [
            ("tiktok", "tiktok-a", "3", "gift-a", None),
            (None, "external", "1", None, "https://shop.example.com/spring?x=1"),
        ],
    )

    removed = _ok(invoke_leadlink("handles", "unroute", "anna", tiktok_route, env=env))
    assert removed.strip() == f"route {tiktok_route} removed from @anna"
    listed = _ok(invoke_leadlink("handles", "list", env=env))
    anna_row = next(line for line in listed.splitlines() if " anna " in line)
    assert f"{BASE_URL}/@anna" in anna_row
    assert anna_row.split()[-2:] == ["1", "│"]
    assert " maya " in listed
    assert _state(env, "anna") == (
        "gift-b",
        [(None, "external", "1", None, "https://shop.example.com/spring?x=1")],
    )


MISTAKES = [
    (("handles", "create", "admin"), "The handle 'admin' is reserved; choose another."),
    (("handles", "create", "bad name!"), "A handle uses letters a-z, digits"),
    (("handles", "create", "Demo"), "The handle 'demo' is already taken."),
    (
        ("handles", "route", "demo", "--url", "javascript:alert(1)"),
        "Only http:// and https:// URLs can be targets.",
    ),
    (("handles", "route", "demo", "--source", "myspace", "--page", "demo"), "Unknown source"),
    (
        ("handles", "route", "demo", "--page", "demo", "--url", "https://example.com/"),
        "A route points to exactly one of a page or a URL.",
    ),
    (("handles", "route", "demo", "--page", "gift-a"), "The handle 'demo' has no page 'gift-a'."),
    (("handles", "default", "demo", "--page", "nope"), "The handle 'demo' has no page 'nope'."),
    (("handles", "show", "nobody"), "There is no handle 'nobody'."),
    (("handles", "unroute", "demo", "999"), "There is no such route."),
]


def test_every_mistake_prints_one_clear_line_and_exits_1(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _prepare(env, with_handle=True)

    for args, message in MISTAKES:
        result = invoke_leadlink(*args, env=env)
        where = " ".join(args)
        assert result.exit_code == 1, (where, result.stdout, result.stderr)
        assert result.stdout == "", where
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (where, result.stderr)
        assert lines[0].startswith("error: "), (where, lines[0])
        assert message in lines[0], (where, lines[0])
    # None of the mistakes changed anything.
    assert _state(env, "demo") == ("demo", [])


def test_handles_without_a_migrated_database_say_so(tmp_path: Path) -> None:
    result = invoke_leadlink("handles", "create", "newbie", env=_env(tmp_path))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
