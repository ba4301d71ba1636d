"""`leadlink pages …` as an owner uses it: create, change, publish, archive, list and preview
(in-process: a subprocess per command would cost a second or more)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli_runner import invoke_leadlink
from tests.cli_runner import sqlite_rows as rows
from tests.servers import serve_env


def stored_bytes(env: dict[str, str], name: str) -> bytes | None:
    """A stored file's bytes, put together from its chunks; None when there is no such file."""
    assert re.fullmatch(r"[0-9a-z.]+", name)  # safe to write into the query
    if rows(env, f"SELECT count(*) FROM stored_files WHERE name = '{name}'") == [(0,)]:
        return None
    chunks = rows(
        env, f"SELECT data FROM stored_file_chunks WHERE file_name = '{name}' ORDER BY seq"
    )
    pieces = [data for (data,) in chunks]
    assert all(isinstance(piece, bytes) for piece in pieces)
    return b"".join(piece for piece in pieces if isinstance(piece, bytes))


def ok(*args: str, env: dict[str, str]) -> str:
    result = invoke_leadlink(*args, env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One migrated database with the handle `anna` and a draft page `base`."""
    environment = serve_env(tmp_path_factory.mktemp("pages-cli"))
    ok("migrate", env=environment)
    ok("handles", "create", "anna", env=environment)
    ok("pages", "create", "anna", "base", "--title", "Base", env=environment)
    return environment


def test_create_update_publish_preview_and_archive(env: dict[str, str], tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("# Seven habits\n\nOne **bold** idea a day.\n", encoding="utf-8")
    gift = tmp_path / "Checklist.pdf"
    gift.write_bytes(b"%PDF-1.7 checklist")

    created = ok(
        "pages", "create", "anna", "checklist",
        "--title", "The checklist",
        "--headline", "Get the 7-day checklist",
        "--body-file", str(body),
        "--gift-kind", "file", "--gift", str(gift),
        "--gift-title", "Your checklist",
        "--theme", "warm",
        "--no-double-opt-in",
        "--name", "required",
        "--consent-text", "Send me weekly tips",
        "--field", "role:Your role:select:required:Coach|Shop owner",
        "--field", "tips:Tips by SMS too:checkbox",
        "--og-title", "Free checklist",
        env=env,
    )  # fmt: skip
    assert "page created (draft): http://127.0.0.1:8000/p/checklist" in created
    ((kind, stored, file_name, theme, double_opt_in, fields, status),) = rows(
        env,
        "SELECT gift_kind, gift_value, gift_file_name, theme, double_opt_in, custom_fields, "
        "status FROM pages WHERE slug = 'checklist'",
    )
    assert (kind, file_name, theme, double_opt_in, status) == (
        "file",
        "Checklist.pdf",
        "warm",
        0,
        "draft",
    )
    assert stored_bytes(env, str(stored)) == b"%PDF-1.7 checklist"
    assert not (Path(env["LEADLINK_DATA_DIR"]) / "gifts").exists()  # in the database only
    assert json.loads(str(fields)) == [
        {
            "key": "role",
            "label": "Your role",
            "type": "select",
            "required": True,
            "options": ["Coach", "Shop owner"],
        },
        {"key": "tips", "label": "Tips by SMS too", "type": "checkbox", "required": False,
         "options": []},
    ]  # fmt: skip

    preview = ok("pages", "preview", "checklist", env=env)
    assert preview.startswith("<!doctype html>")
    assert "<h1>Get the 7-day checklist</h1>" in preview
    assert "<h2>Seven habits</h2>" in preview
    assert 'name="f_role"' in preview
    assert '<meta property="og:title" content="Free checklist">' in preview
    out_file = tmp_path / "preview.html"
    written = ok("pages", "preview", "checklist", "--out", str(out_file), env=env)
    assert "preview written to" in written
    assert out_file.read_text(encoding="utf-8") == preview
    assert rows(env, "SELECT count(*) FROM visits") == [(0,)]  # a preview is not a visit

    published = invoke_leadlink("pages", "publish", "checklist", env=env)
    assert published.exit_code == 0, published.stderr
    assert "page published: http://127.0.0.1:8000/p/checklist" in published.stdout
    assert "no gift" not in published.stderr

    ok(
        "pages", "update", "checklist",
        "--gift-kind", "code", "--gift", "SAVE10",
        "--consent-text", "Send me weekly tips and offers",
        "--double-opt-in",
        "--clear-fields",
        env=env,
    )  # fmt: skip
    assert rows(
        env,
        "SELECT gift_kind, gift_value, gift_file_name, consent_version, double_opt_in, "
        "custom_fields, status FROM pages WHERE slug = 'checklist'",
    ) == [("code", "SAVE10", None, 2, 1, "[]", "published")]
    assert stored_bytes(env, str(stored)) is None  # the replaced file is removed

    archived = ok("pages", "archive", "checklist", env=env)
    assert "page archived: checklist" in archived
    assert rows(env, "SELECT status FROM pages WHERE slug = 'checklist'") == [("archived",)]


def test_list_shows_pages_and_filters_by_handle(env: dict[str, str]) -> None:
    ok("handles", "create", "bob", env=env)
    ok("pages", "create", "bob", "bobs-page", "--title", "Bob [bold]page[/]", env=env)
    everything = ok("pages", "list", env=env)
    assert "base" in everything
    assert "bobs-page" in everything
    assert "Bob [bold]page[/]" in everything  # titles are shown as typed
    only_bob = ok("pages", "list", "--handle", "bob", env=env)
    assert "bobs-page" in only_bob
    assert "base" not in only_bob


def test_publishing_a_page_without_a_gift_warns(env: dict[str, str]) -> None:
    ok("pages", "create", "anna", "no-gift", "--title", "No gift", env=env)
    result = invoke_leadlink("pages", "publish", "no-gift", env=env)
    assert result.exit_code == 0, result.stderr
    assert "no gift yet" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "anna", "base", "--title", "X"], "already taken"),
        (["create", "nobody", "x", "--title", "X"], "There is no handle 'nobody'"),
        (["create", "anna", "Bad_Slug", "--title", "X"], "slug: Must be 1 to 64 of a-z, 0-9"),
        (["create", "anna", "x"], "--title is required"),
        (["create", "anna", "x", "--title", "X", "--theme", "neon"], "theme: Input should be"),
        (
            ["create", "anna", "x", "--title", "X", "--gift-kind", "url", "--gift", "javascript:x"],
            "gift_value: Only http:// and https://",
        ),
        (["create", "anna", "x", "--title", "X", "--gift-kind", "code"], "A code gift needs"),
        (
            ["create", "anna", "x", "--title", "X", "--gift-kind", "file", "--gift", "/nope.pdf"],
            "Invalid gift file: /nope.pdf is not a file.",
        ),
        (["create", "anna", "x", "--title", "X", "--field", "bad"], "--field 'bad' is not key:"),
        (
            ["create", "anna", "x", "--title", "X", "--field", "k:K:select"],
            "custom_fields.0: A select field needs at least one option.",
        ),
        (
            ["create", "anna", "x", "--title", "X", "--hero-image", "http://i.example/a.png"],
            "hero_image_url: Must be an https:// address",
        ),
        (["create", "anna", "x", "--title", "X", "--body-file", "/nope.md"], "cannot read"),
        (["update", "nope", "--title", "X"], "There is no page with the slug 'nope'."),
        (["update", "base", "--title", " "], "title: Must be a single line without control"),
        (["archive", "x[/]"], "There is no page with the slug 'x[/]'."),
        (["preview", "base", "--out", "/nonexistent/dir/p.html"], "cannot write"),
        (["list", "--handle", "zed"], "There is no handle 'zed'."),
    ],
)
def test_bad_input_ends_with_one_clear_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = invoke_leadlink("pages", *args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_a_failed_create_leaves_no_stored_gift_file(env: dict[str, str], tmp_path: Path) -> None:
    gift = tmp_path / "guide.pdf"
    gift.write_bytes(b"pdf")
    before = rows(env, "SELECT name FROM stored_files")
    result = invoke_leadlink(
        "pages", "create", "anna", "base", "--title", "Taken slug",
        "--gift-kind", "file", "--gift", str(gift),
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "already taken" in result.stderr
    assert rows(env, "SELECT name FROM stored_files") == before


def test_blanks_around_option_values_are_trimmed(env: dict[str, str]) -> None:
    ok(
        "pages", "create", "anna", " spaced ", "--title", "  Spaced out  ",
        "--field", " role : Your role : select : Coach | Shop owner ",
        env=env,
    )  # fmt: skip
    ((title, fields),) = rows(env, "SELECT title, custom_fields FROM pages WHERE slug = 'spaced'")
    assert title == "Spaced out"
    assert json.loads(str(fields)) == [
        {"key": "role", "label": "Your role", "type": "select", "required": False,
         "options": ["Coach", "Shop owner"]},
    ]  # fmt: skip


def test_migrate_copies_files_an_older_version_left_on_disk(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Uploads used to be written under DATA_DIR/gifts and DATA_DIR/media; `migrate` copies the
    ones a page uses into the database, once."""
    data_dir = Path(env["LEADLINK_DATA_DIR"])
    gift, image = "1" * 32 + ".pdf", "2" * 32 + ".png"
    (data_dir / "gifts").mkdir(exist_ok=True)
    (data_dir / "gifts" / gift).write_bytes(b"%PDF-1.4 from an older version")
    (data_dir / "gifts" / ("3" * 32 + ".pdf")).write_bytes(b"no page uses this one")
    (data_dir / "media").mkdir(exist_ok=True)
    (data_dir / "media" / image).write_bytes(b"\x89PNG old hero")
    ok("pages", "create", "anna", "older", "--title", "Older", env=env)
    rows(
        env,
        f"UPDATE pages SET gift_kind = 'file', gift_value = '{gift}', "
        f"gift_file_name = 'old.pdf', hero_image_url = '/media/{image}' WHERE slug = 'older'",
    )

    migrated = ok("migrate", env=env)
    assert f"2 uploaded file(s) copied from {data_dir} into the database" in migrated
    assert stored_bytes(env, gift) == b"%PDF-1.4 from an older version"
    assert stored_bytes(env, image) == b"\x89PNG old hero"
    assert stored_bytes(env, "3" * 32 + ".pdf") is None
    assert "copied" not in ok("migrate", env=env)  # once
