"""The owner's HTML pages, signed in as a browser is: the report page (`GET /admin/report`,
issue 6) over 365 days of every handle, and the leads table (`GET /admin/leads`, issue 13) on
its first page and filtered by source, status and newsletter consent. The owner is created with
`leadlink users create`, then the setup opens `/admin/login` (CSRF token and its cookie), posts
the credentials and hands the session cookie to wrk as a `Cookie` header.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

from app.admin.sessions import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE

__all__ = [
    "LEADS_FILTERED_PATH",
    "LEADS_PATH",
    "OWNER_EMAIL",
    "REPORT_PATH",
    "LeadsTable",
    "create_owner_argv",
    "owner_password",
    "sign_in",
]

OWNER_EMAIL = "owner@bench.example"
# One password for this run only, piped to `leadlink users create --password-stdin`.
_PASSWORD = secrets.token_urlsafe(24)
_CSRF_RE = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


def _report_path(days: int) -> str:
    # The seeded data ends today in the report time zone (UTC for the bench server).
    today = datetime.now(UTC).date()
    return f"/admin/report?from={today - timedelta(days=days - 1)}&to={today}"


REPORT_PATH = _report_path(365)
LEADS_PATH = "/admin/leads"
# The seeded mix: instagram ~30 % of leads, confirmed 52 %, newsletter 60 %: ~9 % match.
LEADS_FILTERED_PATH = "/admin/leads?source=instagram&status=confirmed&consent=yes"
LEADS_PER_PAGE = 50
_LEAD_ROW_RE = re.compile(r'<td data-label="Email"><a href="/admin/leads/\d+">')


def owner_password() -> str:
    return _PASSWORD


def create_owner_argv(leadlink: str) -> Sequence[str]:
    return [leadlink, "users", "create", OWNER_EMAIL, "--password-stdin"]


def sign_in(base_url: str) -> dict[str, str]:
    """Sign in through the login form; returns the `Cookie` header of the session."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/admin/login")
        form.raise_for_status()
        token = _CSRF_RE.search(form.text)
        if token is None or LOGIN_COOKIE not in client.cookies:
            raise RuntimeError("the login form has no CSRF token or sets no login cookie")
        answer = client.post(
            "/admin/login",
            data={CSRF_FIELD: token.group(1), "email": OWNER_EMAIL, "password": _PASSWORD},
        )
        session = answer.cookies.get(SESSION_COOKIE)
        if answer.status_code != httpx.codes.SEE_OTHER or session is None:
            raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:200]}")
        page = client.get(REPORT_PATH)
        if page.status_code != httpx.codes.OK:
            raise RuntimeError(f"{REPORT_PATH} answered {page.status_code} once signed in")
    return {"Cookie": f"{SESSION_COOKIE}={session}"}


class LeadsTable:
    """A leads-table scenario: signs in before the warm-up, and afterwards checks that the page
    (with the same cookie) shows a full page of leads and an "Older" link."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.headers: dict[str, str] = {}

    def setup(self, base_url: str) -> dict[str, str]:
        self.headers = sign_in(base_url)
        return self.headers

    def check(self, base_url: str) -> str | None:
        response = httpx.get(base_url + self.path, headers=self.headers, timeout=30)
        if response.status_code != httpx.codes.OK:
            return f"answered {response.status_code}"
        rows = len(_LEAD_ROW_RE.findall(response.text))
        older = 'rel="next"' in response.text
        if rows != LEADS_PER_PAGE or not older:
            return f"{rows} leads (want {LEADS_PER_PAGE}) and an Older link: {older}"
        return None
