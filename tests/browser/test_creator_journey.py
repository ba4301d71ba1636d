"""A creator's whole funnel in a real Chromium, never touching a terminal: sign in, create a
handle and a page with an uploaded PDF gift, add a TikTok rule and an A/B variant, copy the link
and download the QR code; a visitor in TikTok's in-app browser opts in; the owner opens the
confirmation from the outbox view, finds the lead, marks it a customer, enters the likes, reads
like-to-lead for TikTok in the report, and erases the lead by email.

Every step leaves a screenshot in test-artifacts/screenshots/ (journey-NN-<step>.png). Locators
are the accessible names a person reads (labels, button and link text), never CSS classes.
Both browser contexts keep the real CSP, and any violation, console error, script error or
request to another site fails the journey at its end.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Instance,
    PageWatch,
    new_context,
    open_page,
    screenshot,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page

# The one temporary skip of the browser suite: the admin sections this journey walks through
# are being built on other branches. Remove this line once they are merged.
pytestmark = pytest.mark.skip(reason="enabled when the admin sections are merged")

HANDLE = "maya"
SLUG = "maya-guide"
VISITOR_EMAIL = "tiktok.fan@example.com"
TIKTOK_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 musical_ly_34.1.0 JsSdk/2.0 NetType/WIFI "
    "Channel/App Store ByteLocale/en Region/US"
)
LIKES = 1000
# One page of a PDF, enough for a check by content ("%PDF-" and an "%%EOF").
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
CONTROLS = re.compile(r"^(Save|Create|Add|Publish)", re.IGNORECASE)


class Steps:
    """Numbers the journey's screenshots in the order the steps ran."""

    def __init__(self) -> None:
        self.count = 0

    async def done(self, page: Page, name: str) -> None:
        self.count += 1
        await screenshot(page, f"journey-{self.count:02d}-{name}")


async def _submit(page: Page, name: str | re.Pattern[str] = CONTROLS) -> None:
    """Press the form's button and wait for the page it leads to (forms answer 303)."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=name).first.click()


async def _option_value(select: Locator, *, has_text: str, copy: bool = False) -> str:
    """The value of the option naming the page `has_text` (with `copy`: its duplicate, whose
    name contains the slug and more)."""
    options = select.locator("option", has_text=has_text)
    option = options.nth(1) if copy else options.first
    value = await option.get_attribute("value")
    assert value, f"no option for {has_text!r} in {await select.inner_text()}"
    return value


async def test_a_creator_runs_the_whole_funnel_from_the_browser(
    browser: Browser, instance: Instance, tmp_path: Path
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 - only with Chromium

    steps = Steps()
    owner_context = await new_context(browser, viewport=DESKTOP, accept_downloads=True)
    await owner_context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=instance.base_url
    )
    visitor_context = await new_context(
        browser, viewport=PHONE, user_agent=TIKTOK_IPHONE, is_mobile=True, has_touch=True
    )
    watches: list[PageWatch] = []
    try:
        owner, owner_watch = await open_page(owner_context, instance.base_url)
        visitor, visitor_watch = await open_page(visitor_context, instance.base_url)
        watches += [owner_watch, visitor_watch]
        owner.on("dialog", lambda dialog: dialog.accept())  # data-confirm on erase

        # 1. Sign in: the dashboard.
        await sign_in(owner, instance)
        await owner.goto(instance.url("/admin"))
        await expect(owner.get_by_role("heading", level=1)).to_be_visible()
        await steps.done(owner, "dashboard")

        # 2. A handle.
        await owner.goto(instance.url("/admin/handles"))
        await owner.get_by_label("Name", exact=True).fill(HANDLE)
        await _submit(owner)
        await expect(owner.get_by_text(f"@{HANDLE}").first).to_be_visible()
        await steps.done(owner, "handle-created")

        # 3. A page with an uploaded PDF gift, published.
        gift = tmp_path / "guide.pdf"
        gift.write_bytes(PDF)
        await owner.goto(instance.url("/admin/pages/new"))
        await owner.get_by_label("Handle").select_option(HANDLE)
        await owner.get_by_label("Slug").fill(SLUG)
        await owner.get_by_label("Title").fill("Maya's TikTok growth guide")
        await owner.get_by_label("Headline").fill("Get my free TikTok growth guide")
        await owner.get_by_label("Gift file").set_input_files(gift)
        await _submit(owner)
        await _submit(owner, re.compile("^Publish", re.IGNORECASE))
        await expect(owner.get_by_text("Published").first).to_be_visible()
        await steps.done(owner, "page-published")

        # 4. A TikTok rule and an A/B variant (a duplicate of the page, half of the visits).
        await _submit(owner, re.compile("^Duplicate", re.IGNORECASE))
        await _submit(owner, re.compile("^Publish", re.IGNORECASE))
        await owner.goto(instance.url(f"/admin/handles/{HANDLE}"))
        await owner.get_by_label("Source").select_option("tiktok")
        rule_page = owner.get_by_label("Page").first
        await rule_page.select_option(await _option_value(rule_page, has_text=SLUG))
        await _submit(owner, re.compile("^Add (a )?rule", re.IGNORECASE))
        variant = owner.get_by_label("Variant")
        await variant.select_option(await _option_value(variant, has_text=SLUG, copy=True))
        await owner.get_by_label("Weight").fill("50")
        await _submit(owner, re.compile("^Add (a |an )?(A/B )?variant", re.IGNORECASE))
        await expect(owner.get_by_text("tiktok").first).to_be_visible()
        await steps.done(owner, "routing")

        # 5. Copy the one link and download its QR code.
        await owner.goto(instance.url("/admin"))
        await owner.get_by_role("button", name=re.compile("^Copy", re.IGNORECASE)).first.click()
        copied: str = await owner.evaluate("navigator.clipboard.readText()")
        assert copied.endswith(f"/@{HANDLE}"), copied
        async with owner.expect_download() as download_info:
            await owner.get_by_role("link", name=re.compile("PNG", re.IGNORECASE)).first.click()
        download = await download_info.value
        qr = tmp_path / download.suggested_filename
        await download.save_as(qr)
        assert qr.read_bytes().startswith(b"\x89PNG"), download.suggested_filename
        await steps.done(owner, "link-and-qr")

        # 6. A visitor in TikTok's in-app browser opts in.
        await visitor.goto(instance.url(f"/@{HANDLE}"))
        await steps.done(visitor, "visitor-form")
        await visitor.get_by_label("Email").fill(VISITOR_EMAIL)
        await visitor.wait_for_timeout(2100)  # a human takes more than 2 s; faster is a bot
        async with visitor.expect_navigation():
            await visitor.get_by_role("button").first.click()
        await expect(visitor.get_by_role("heading", level=1)).to_contain_text(
            re.compile("inbox", re.IGNORECASE)
        )
        await steps.done(visitor, "visitor-thanks")

        # 7. The owner opens the confirmation email from the outbox view and follows its link.
        await owner.goto(instance.url("/admin/emails"))
        await owner.get_by_role("link", name=re.compile(re.escape(VISITOR_EMAIL))).first.click()
        await steps.done(owner, "confirmation-email")
        confirm_link = owner.get_by_role("link", name=re.compile("/c/|confirm", re.IGNORECASE))
        confirm_url = await confirm_link.first.get_attribute("href")
        assert confirm_url is not None
        assert "/c/" in confirm_url, confirm_url
        await visitor.goto(confirm_url)
        await expect(visitor.get_by_role("heading", level=1)).to_be_visible()
        await steps.done(visitor, "confirmed")

        # 8. The lead is in the table; mark it a customer.
        await owner.goto(instance.url("/admin/leads"))
        lead_link = owner.get_by_role("link", name=re.compile(re.escape(VISITOR_EMAIL)))
        await expect(lead_link.first).to_be_visible()
        await steps.done(owner, "leads")
        await lead_link.first.click()
        await owner.get_by_label("Value").fill("49")
        await _submit(owner, re.compile("customer", re.IGNORECASE))
        await expect(owner.get_by_role("status")).to_be_visible()
        await steps.done(owner, "customer")

        # 9. Today's TikTok likes.
        await owner.goto(instance.url("/admin/likes"))
        today = datetime.now(UTC).date().isoformat()
        await owner.get_by_label("Handle").select_option(HANDLE)
        await owner.get_by_label(re.compile("^(Day|Date)$")).fill(today)
        await owner.get_by_label(re.compile("^(Source|Platform)$")).select_option("tiktok")
        await owner.get_by_label("Likes").fill(str(LIKES))
        await _submit(owner)
        await steps.done(owner, "likes")

        # 10. The report shows like-to-lead for TikTok: 1 lead from 1,000 likes.
        await owner.goto(instance.url(f"/admin/report?handle={HANDLE}"))
        tiktok_row = owner.get_by_role("row").filter(
            has=owner.get_by_role("rowheader", name="tiktok")
        )
        await expect(tiktok_row.first).to_contain_text("0.1")
        await steps.done(owner, "report")

        # 11. Erase the lead by email address.
        await owner.goto(instance.url("/admin/leads"))
        erase_button = owner.get_by_role("button", name=re.compile("^Erase", re.IGNORECASE))
        erase_form = owner.locator("form", has=erase_button)
        await erase_form.get_by_label(re.compile("^Email")).fill(VISITOR_EMAIL)
        await _submit(owner, re.compile("^Erase", re.IGNORECASE))
        await expect(owner.get_by_role("status")).to_be_visible()
        await steps.done(owner, "erased")
        await owner.goto(instance.url("/admin/leads"))
        await expect(lead_link).to_have_count(0)
    finally:
        await owner_context.close()
        await visitor_context.close()
    for watch in watches:
        watch.assert_clean("the journey")
