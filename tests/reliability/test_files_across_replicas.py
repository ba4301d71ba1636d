"""Uploaded files are served by every replica: two real `leadlink serve` processes on one database
(a PostgreSQL database, and one SQLite file), each with a data directory of its own. A gift file
and a hero image uploaded in the admin of replica A are downloaded, byte for byte, from replica B
by a lead who opted in there; neither replica keeps a copy on its disk."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from app.links.attribution import ATTRIBUTION_PURPOSE
from app.signing import Signer
from tests.cli_runner import invoke_leadlink
from tests.servers import RunningServer, running_server, serve_env

pytestmark = pytest.mark.slow

SECRET = "replica-files-test-secret-0123456789abcdef"
OWNER = "owner@example.com"
PASSWORD = "correct horse battery staple"
# A 700 KB "PDF" (three chunks in the database) and a small PNG.
GIFT = b"%PDF-1.7\n" + hashlib.sha256(b"seed").digest() * 22_000 + b"\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(40)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')
GIFT_LINK = re.compile(r'href="https?://[^/"]+(/g/[^"]+)"')


def _ok(*args: str, env: dict[str, str], stdin: str | None = None) -> None:
    result = invoke_leadlink(*args, env=env, stdin=stdin)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


@pytest.fixture
def replicas(empty_database_url: str, tmp_path: Path) -> Iterator[tuple[RunningServer, ...]]:
    """Two `leadlink serve` on one database, each with its own data directory."""
    environments = [
        serve_env(
            tmp_path / name,
            LEADLINK_DATABASE_URL=empty_database_url,
            LEADLINK_SECRET_KEY=SECRET,
            LEADLINK_OUTBOX_IN_PROCESS="false",
        )
        for name in ("a", "b")
    ]
    _ok("migrate", env=environments[0])
    _ok("handles", "create", "anna", env=environments[0])
    _ok("users", "create", OWNER, "--password-stdin", env=environments[0], stdin=PASSWORD + "\n")
    with ExitStack() as stack:
        yield tuple(
            stack.enter_context(running_server(env, tmp_path / f"serve-{index}.log"))
            for index, env in enumerate(environments)
        )


def _upload_through(server: RunningServer) -> None:
    """Sign in to replica A's admin, create the page with both files and publish it."""
    with httpx.Client(base_url=server.base_url, timeout=30) as admin:
        login = admin.get("/admin/login")
        signed_in = admin.post(
            "/admin/login",
            data={"email": OWNER, "password": PASSWORD, "csrf_token": _csrf(login.text)},
        )
        assert signed_in.status_code == 303, signed_in.text
        token = _csrf(admin.get("/admin/pages/new").text)
        created = admin.post(
            "/admin/pages/new",
            data={
                "handle": "anna",
                "slug": "guide",
                "title": "The guide",
                "theme": "clean",
                "name_field": "optional",
                "gift_kind": "file",
                "gift_title": "The guide (PDF)",
                "csrf_token": token,
            },  # no double_opt_in: the gift is on the thank-you page
            files={
                "gift_file": ("Calm Guide.pdf", GIFT, "application/pdf"),
                "hero_image_file": ("me.png", PNG, "image/png"),
            },
        )
        assert created.status_code == 303, created.text
        page_id = created.headers["location"].rsplit("/", 1)[-1].split("?")[0]
        published = admin.post(f"/admin/pages/{page_id}/publish", data={"csrf_token": token})
        assert published.status_code == 303


def _opt_in_and_download_from(server: RunningServer) -> tuple[bytes, httpx.Headers, bytes]:
    """Opt in on replica B, follow its thank-you page to the gift, fetch the page's image."""
    with httpx.Client(base_url=server.base_url, timeout=30) as visitor:
        landing = visitor.get("/p/guide", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
        assert landing.status_code == 200, landing.text[:300]
        field = TOKEN_FIELD.search(landing.text)
        assert field is not None
        signer = Signer(SECRET, ATTRIBUTION_PURPOSE)
        values, issued = signer.unsign_fields(field.group(1))
        aged = signer.sign_fields(values, now=issued - 5)  # as if a person had read the page
        answer = visitor.post("/p/guide", data={"a": aged, "email": "fan@example.com"})
        assert answer.status_code == 303, answer.text[:300]
        thanks = visitor.get(answer.headers["location"])
        link = GIFT_LINK.search(thanks.text)
        assert link is not None, thanks.text[:1000]
        gift = visitor.get(link.group(1))
        assert gift.status_code == 200, gift.text[:300]
        image_url = re.search(r'src="(/media/[0-9a-f]{32}\.png)"', landing.text)
        assert image_url is not None
        image = visitor.get(image_url.group(1))
        assert image.status_code == 200
        return gift.content, gift.headers, image.content


def test_a_gift_uploaded_through_one_replica_downloads_from_the_other(
    replicas: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    replica_a, replica_b = replicas
    _upload_through(replica_a)
    started = time.monotonic()
    gift, headers, image = _opt_in_and_download_from(replica_b)
    assert gift == GIFT
    assert hashlib.sha256(gift).hexdigest() == hashlib.sha256(GIFT).hexdigest()
    assert headers["content-type"] == "application/pdf"
    assert headers["content-length"] == str(len(GIFT))
    assert "Calm%20Guide.pdf" in headers["content-disposition"]
    assert image == PNG
    assert time.monotonic() - started < 30
    # Neither replica kept the files on its own disk.
    on_disk = [p for p in tmp_path.rglob("*") if p.parent.name in {"gifts", "media"}]
    assert on_disk == []
