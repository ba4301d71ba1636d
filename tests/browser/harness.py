"""What every browser test shares: a real `leadlink serve` with the demo and an admin account,
one Chromium, signing in, axe-core, the 375 px check, screenshots, and a watch on each page for
CSP violations, console errors, script errors and requests to other sites.

Plain functions and context managers, no fixtures: tests/browser/conftest.py turns them into
fixtures, and tests/browser/screenshots.py (the README's images) uses them as they are.
Playwright is imported only where a browser is started, so a machine without Chromium can still
collect the tests and skip them with one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.leads.tokens import LeadTokens
from tests.databases import IN_CI
from tests.servers import REPO_ROOT, RunningServer, free_port, running_server, serve_env

if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        ViewportSize,
    )

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "AXE_SCRIPT",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "PHONE",
    "SCREENSHOTS_DIR",
    "SECRET_KEY",
    "BrowserProblems",
    "Instance",
    "PageWatch",
    "Violation",
    "assert_no_horizontal_scroll",
    "chromium",
    "demo_instance",
    "format_violations",
    "horizontal_overflow",
    "new_context",
    "open_page",
    "require_chromium",
    "run_axe",
    "screenshot",
    "screenshot_path",
    "serious_violations",
    "sign_in",
    "widest_elements",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe-core-4.11.4" / "axe.min.js"
SCREENSHOTS_DIR = REPO_ROOT / "test-artifacts" / "screenshots"

ADMIN_EMAIL = "admin@example.test"
# Fixed so a test can sign in without reading the CLI's output; this instance lives for a test
# module only, on 127.0.0.1.
ADMIN_PASSWORD = "browser-tests-only-password"
# Fixed so a test can sign the links an email would carry (confirm, gift, unsubscribe).
SECRET_KEY = "browser-tests-only-secret-key-0123456789abcdef"
WAIT_MS = 10_000
MAX_NODES_SHOWN = 5  # elements listed per violation in a failure message
SERIOUS = frozenset({"serious", "critical"})
# axe's rule tags: WCAG 2.0, 2.1 and 2.2 A/AA plus axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def require_chromium() -> None:
    """Skip (one line) without Chromium; with CI=true its absence fails the run instead."""
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if IN_CI:
        pytest.fail(f"CI=true needs the browser tests: {message}")
    pytest.skip(f"browser tests skipped: {message}; with CI=true this is a failure")


# --- the server ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instance:
    """A running `leadlink serve` with the demo seeded and an admin account."""

    server: RunningServer
    data_dir: Path
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def tokens(self) -> LeadTokens:
        """Signs the links a lead's emails carry (`/c/…`, `/g/…`, `/u/…`, thanks)."""
        return LeadTokens(SECRET_KEY)


@contextmanager
def demo_instance(data_dir: Path, **env: str) -> Iterator[Instance]:
    """`leadlink migrate`, `users create` (the admin), `demo`, then a real `leadlink serve` on a
    free port with a fresh SQLite database under `data_dir`; stopped when the block ends.

    The setup commands run in-process (a subprocess costs seconds); `serve` is the real one.
    """
    port = free_port()
    environment = serve_env(
        data_dir,
        LEADLINK_BASE_URL=f"http://127.0.0.1:{port}",
        LEADLINK_SECRET_KEY=SECRET_KEY,
        **env,
    )
    runner = CliRunner(env=environment)
    steps: list[tuple[list[str], str | None]] = [
        (["migrate"], None),
        (["users", "create", ADMIN_EMAIL, "--password-stdin"], ADMIN_PASSWORD + "\n"),
        (["demo"], None),
    ]
    for args, stdin in steps:
        result = runner.invoke(cli, args, input=stdin)
        assert result.exit_code == 0, f"leadlink {' '.join(args)} failed:\n{result.output}"
    with running_server(environment, data_dir / "serve.log", port=port) as server:
        yield Instance(server, data_dir)


# --- the browser --------------------------------------------------------------------------


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium (the system's), closed when the block ends."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only with Chromium

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


CSP_MESSAGE = re.compile(r"Content Security Policy|Refused to (apply|execute|load|connect|frame)")


@dataclass
class BrowserProblems:
    """What a page did wrong while it was watched, each as one readable line."""

    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests_elsewhere: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *(f"CSP violation: {text}" for text in self.csp_violations),
            *(f"console error: {text}" for text in self.console_errors),
            *(f"script error: {text}" for text in self.page_errors),
            *(f"request to another site: {url}" for url in self.requests_elsewhere),
        ]

    def clear(self) -> None:
        for kind in (
            self.csp_violations,
            self.console_errors,
            self.page_errors,
            self.requests_elsewhere,
        ):
            kind.clear()


class PageWatch:
    """Listens to one page: a CSP violation (Chromium logs each as a console error), any other
    console error, an uncaught script error, and any request leaving `base_url` (no page may
    fetch from elsewhere). `expect_errors()` excuses the "Failed to load resource" line of a
    navigation the test expects to fail (a 404 page)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems = BrowserProblems()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.page_errors.append(str(error)))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        location = message.location.get("url", "")
        text = f"{message.text} ({location or self.page.url})"
        if CSP_MESSAGE.search(message.text):
            self.problems.csp_violations.append(text)
        else:
            self.problems.console_errors.append(text)

    def _request(self, request: Request) -> None:
        url = request.url
        if url.startswith((self.base_url + "/", "data:", "blob:", "about:")):
            return
        self.problems.requests_elsewhere.append(url)

    def take(self) -> list[str]:
        """The problems seen since the last call, and forget them."""
        lines = self.problems.lines()
        self.problems.clear()
        return lines

    def assert_clean(self, where: str = "") -> None:
        lines = self.take()
        assert not lines, f"{where or self.page.url}:\n  " + "\n  ".join(lines)


async def new_context(
    browser: Browser, *, viewport: ViewportSize = DESKTOP, **options: Any
) -> BrowserContext:
    """A fresh context (no cookies) of the given size; `options` go to `new_context`. A local
    server answers in milliseconds, so waits give up after 10 s rather than Playwright's 30."""
    context = await browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(WAIT_MS)
    return context


async def open_page(context: BrowserContext, base_url: str) -> tuple[Page, PageWatch]:
    page = await context.new_page()
    return page, PageWatch(page, base_url)


async def sign_in(page: Page, instance: Instance, *, email: str = "", password: str = "") -> None:
    """Sign in through the real form, as a person would, and wait for the page it leads to."""
    await page.goto(instance.url("/admin/login"))
    await page.get_by_label("Email").fill(email or instance.admin_email)
    await page.get_by_label("Password").fill(password or instance.admin_password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/admin/login" not in url)


# --- axe-core -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """One axe rule broken on a page, with the elements that break it."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]
    summaries: tuple[str, ...]

    @property
    def serious(self) -> bool:
        return self.impact in SERIOUS

    def describe(self) -> str:
        lines = [f"[{self.impact}] {self.rule}: {self.help} ({self.help_url})"]
        shown = list(zip(self.targets, self.summaries, strict=True))[:MAX_NODES_SHOWN]
        for target, summary in shown:
            lines.append(f"    at {target}")
            for line in summary.splitlines():
                if line.strip():
                    lines.append(f"      {line.strip()}")
        if len(self.targets) > MAX_NODES_SHOWN:
            lines.append(f"    … and {len(self.targets) - MAX_NODES_SHOWN} more element(s)")
        return "\n".join(lines)


_AXE_RUN = """async ([tags, disabled]) => {
  const rules = Object.fromEntries(disabled.map((id) => [id, {enabled: false}]));
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, rules});
  return JSON.stringify({
    passes: result.passes.length,
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
    })),
  });
}"""


async def run_axe(page: Page, *, disabled_rules: tuple[str, ...] = ()) -> list[Violation]:
    """axe-core's violations on the page as it is now (every impact; see `serious_violations`).

    The vendored axe.min.js is evaluated through the DevTools protocol, which the page's
    `script-src 'self'` does not govern, so the page's own CSP stays in force (and is watched)
    in the same context. Raises when axe did not run (it always passes some rule).
    """
    source = AXE_SCRIPT.read_text(encoding="utf-8")
    await page.evaluate(f"{source}\n;void 0")
    raw = await page.evaluate(_AXE_RUN, [AXE_TAGS, list(disabled_rules)])
    result = json.loads(raw)
    assert result["passes"] > 0, f"axe ran no rule on {page.url}: was it injected?"
    return [
        Violation(
            rule=item["id"],
            impact=item["impact"],
            help=item["help"],
            help_url=item["helpUrl"],
            targets=tuple(node["target"] for node in item["nodes"]),
            summaries=tuple(node["summary"] for node in item["nodes"]),
        )
        for item in result["violations"]
    ]


def serious_violations(violations: list[Violation]) -> list[Violation]:
    return [violation for violation in violations if violation.serious]


def format_violations(where: str, violations: list[Violation]) -> str:
    return f"{where}: {len(violations)} axe violation(s)\n" + "\n".join(
        "  " + violation.describe().replace("\n", "\n  ") for violation in violations
    )


# --- layout and pictures ------------------------------------------------------------------


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no sideways scroll)."""
    overflow: int = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(0, overflow)


async def widest_elements(page: Page, limit: int = 5) -> list[str]:
    """The elements reaching furthest past the viewport's right edge, to name the culprit."""
    found: list[str] = await page.evaluate(
        """(limit) => {
          const width = window.innerWidth;
          const out = [];
          for (const el of document.body.querySelectorAll("*")) {
            const right = el.getBoundingClientRect().right;
            if (right > width + 1) {
              const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                (el.classList.length ? "." + [...el.classList].join(".") : "");
              out.push([right, name + " reaches " + Math.round(right) + "px"]);
            }
          }
          out.sort((a, b) => b[0] - a[0]);
          return out.slice(0, limit).map((pair) => pair[1]);
        }""",
        limit,
    )
    return found


async def assert_no_horizontal_scroll(page: Page) -> None:
    """The page fits its viewport's width: no sideways scrolling of the whole page (a wide
    table may scroll inside its own box)."""
    overflow = await horizontal_overflow(page)
    if overflow:
        culprits = await widest_elements(page)
        width = page.viewport_size["width"] if page.viewport_size else "?"
        raise AssertionError(
            f"{page.url} scrolls sideways at {width} px: {overflow} px too wide; "
            + "; ".join(culprits)
        )


def screenshot_path(name: str, directory: Path = SCREENSHOTS_DIR) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{safe}.png"


async def screenshot(
    page: Page,
    name: str,
    *,
    full_page: bool = True,
    directory: Path = SCREENSHOTS_DIR,
) -> Path:
    """Save the page as `<directory>/<name>.png` (test-artifacts/screenshots/ by default)."""
    path = screenshot_path(name, directory)
    await page.screenshot(path=str(path), full_page=full_page)
    return path
