"""A creator's whole funnel in a real Chromium, never touching a terminal: sign in, create a
handle and a page with an uploaded PDF gift, add a TikTok rule and an A/B variant, copy the link
and download the QR code; a visitor in TikTok's in-app browser opts in; the owner opens the
confirmation from the outbox view, finds the lead, marks it a customer, enters the likes, reads
like-to-lead for TikTok in the report, and erases the lead by email.

Every step leaves a screenshot in test-artifacts/screenshots/ (journey-NN-<step>.png). Locators
are the accessible names a person reads (labels, button and link text, table headers), never
CSS classes. Both browser contexts keep the real CSP, and any violation, console error, script
error or request to another site fails the journey at its end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

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

HANDLE = "maya"
SLUG = "maya-guide"
VARIANT_SLUG = f"{SLUG}-copy"  # what "Duplicate" names the copy
TITLE = "Maya's TikTok growth guide"
GIFT_TITLE = "The growth guide (PDF)"
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


class Steps:
    """Numbers the journey's screenshots in the order the steps ran."""

    def __init__(self) -> None:
        self.count = 0

    async def done(self, page: Page, name: str) -> None:
        self.count += 1
        await screenshot(page, f"journey-{self.count:02d}-{name}")


async def _submit(scope: Page | Locator, page: Page, name: str) -> None:
    """Press the button named `name` (exactly) in `scope` and wait for the page it leads to
    (forms answer 303)."""
    async with page.expect_navigation():
        await scope.get_by_role("button", name=name, exact=True).click()


async def _row(table: Locator, header: str) -> dict[str, str]:
    """The row of `table` whose row header reads `header`, as {column header: text}."""
    columns = [text.strip() for text in await table.get_by_role("columnheader").all_inner_texts()]
    row = table.get_by_role("row").filter(
        has=table.page.get_by_role("rowheader", name=header, exact=True)
    )
    cells = [
        (await row.get_by_role("rowheader").inner_text()).strip(),
        *(text.strip() for text in await row.get_by_role("cell").all_inner_texts()),
    ]
    assert len(cells) == len(columns), (columns, cells)
    return dict(zip(columns, cells, strict=True))


async def _download(page: Page, link: Locator, directory: Path) -> bytes:
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    saved = directory / download.suggested_filename
    await download.save_as(saved)
    return saved.read_bytes()


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
        await expect(owner.get_by_role("heading", level=1)).to_have_text("Dashboard")
        await steps.done(owner, "dashboard")

        # 2. A handle.
        await owner.get_by_role("link", name="Handles", exact=True).click()
        await owner.get_by_label("Name", exact=True).fill(HANDLE)
        await owner.get_by_label("Display name (optional)").fill("Maya")
        await _submit(owner, owner, "Create handle")
        await expect(owner.get_by_role("status")).to_be_visible()
        await expect(owner.get_by_role("heading", level=1)).to_have_text(f"@{HANDLE}")
        await steps.done(owner, "handle-created")

        # 3. A page with an uploaded PDF gift, published.
        gift = tmp_path / "guide.pdf"
        gift.write_bytes(PDF)
        await owner.get_by_role("link", name="Pages", exact=True).click()
        await owner.get_by_role("link", name="New page", exact=True).click()
        await owner.get_by_label("Handle", exact=True).select_option(HANDLE)
        await owner.get_by_label("Slug", exact=True).fill(SLUG)
        await owner.get_by_label("Title", exact=True).fill(TITLE)
        await owner.get_by_label("Headline", exact=True).fill("Get my free TikTok growth guide")
        await owner.get_by_label("Gift title", exact=True).fill(GIFT_TITLE)
        await owner.get_by_label("Gift file", exact=True).set_input_files(gift)
        await _submit(owner, owner, "Create page")
        await expect(owner.get_by_role("heading", level=1)).to_have_text(f"Edit “{TITLE}”")
        await expect(owner.get_by_text("Current file: guide.pdf")).to_be_visible()
        await _submit(owner, owner, "Publish")
        await expect(owner.get_by_role("status")).to_have_text(f"“{TITLE}” is online at /p/{SLUG}.")
        page_row = owner.get_by_role("row").filter(
            has=owner.get_by_role("link", name=TITLE, exact=True)
        )
        await expect(page_row.get_by_role("cell", name="published", exact=True)).to_be_visible()
        await steps.done(owner, "page-published")

        # 4. A TikTok rule and an A/B variant: a published duplicate of the page, half each.
        await _submit(page_row, owner, "Duplicate")
        await expect(owner.get_by_role("status")).to_have_text(
            f"Copied as the draft /p/{VARIANT_SLUG}."
        )
        await _submit(owner, owner, "Publish")
        await expect(owner.get_by_role("status")).to_have_text(
            f"“{TITLE}” is online at /p/{VARIANT_SLUG}."
        )
        await owner.get_by_role("link", name="Handles", exact=True).click()
        await owner.get_by_role("link", name=f"@{HANDLE}", exact=True).click()
        for slug in (SLUG, VARIANT_SLUG):
            await owner.get_by_label("Visitors from", exact=True).select_option("tiktok")
            await owner.get_by_label("Go to the page", exact=True).select_option(slug)
            await owner.get_by_label("Weight", exact=True).fill("50")
            await _submit(owner, owner, "Add rule")
        rules = owner.get_by_role("table").filter(
            has=owner.get_by_role("columnheader", name="Visitors from")
        )
        for slug in (SLUG, VARIANT_SLUG):
            rule = (
                rules.get_by_role("row")
                .filter(has=owner.get_by_role("rowheader", name="tiktok", exact=True))
                .filter(has=owner.get_by_role("cell", name=f"page {slug}", exact=True))
            )
            await expect(rule).to_have_count(1)
            await expect(rule.get_by_role("cell", name=slug, exact=True)).to_be_visible()  # variant
            await expect(rule.get_by_role("cell", name="50.0%", exact=True)).to_be_visible()
        await steps.done(owner, "routing")

        # 5. Copy the one link and download its QR code (PNG and SVG).
        await owner.get_by_role("link", name="Dashboard", exact=True).click()
        card = owner.get_by_role("region", name=f"@{HANDLE}", exact=True)
        one_link = instance.url(f"/@{HANDLE}")
        await expect(card.get_by_label("Your one link: put it in every bio")).to_have_value(
            one_link
        )
        copy = card.get_by_role("button", name="Copy", exact=True).first
        await copy.click()
        await expect(card.get_by_role("button", name="Copied", exact=True)).to_be_visible()
        assert await owner.evaluate("navigator.clipboard.readText()") == one_link
        qr = card.get_by_role("figure")
        png = await _download(owner, qr.get_by_role("link", name="PNG", exact=True), tmp_path)
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), png[:16]
        svg = await _download(owner, qr.get_by_role("link", name="SVG", exact=True), tmp_path)
        assert b"<svg" in svg[:500], svg[:100]
        await steps.done(owner, "link-and-qr")

        # 6. A visitor in TikTok's in-app browser opts in.
        await visitor.goto(one_link)
        await expect(visitor.get_by_role("heading", level=1)).to_have_text(
            "Get my free TikTok growth guide"
        )
        await steps.done(visitor, "visitor-form")
        await visitor.get_by_label("Email").fill(VISITOR_EMAIL)
        await visitor.wait_for_timeout(2100)  # a human takes more than 2 s; faster is a bot
        async with visitor.expect_navigation():
            await visitor.get_by_role("button").first.click()
        await expect(visitor.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        await steps.done(visitor, "visitor-thanks")

        # 7. The owner opens the confirmation email in the outbox view and follows its link.
        await owner.get_by_role("link", name="Emails", exact=True).click()
        email_row = owner.get_by_role("row").filter(
            has=owner.get_by_role("cell", name=VISITOR_EMAIL, exact=True)
        )
        await expect(email_row).to_have_count(1)
        await email_row.get_by_role("link").click()
        await expect(owner.get_by_role("heading", level=1)).to_have_text(
            f"Confirm your email to get {GIFT_TITLE}"
        )
        await expect(owner.get_by_text(VISITOR_EMAIL, exact=True)).to_be_visible()
        await steps.done(owner, "confirmation-email")
        # The link reads as its address, /c/<token> on this instance ("/" escaped for Playwright).
        confirm_address = re.escape(instance.url("/c/")).replace("/", r"\/")
        confirm_link = owner.get_by_role("link", name=re.compile(f"^{confirm_address}"))
        await expect(confirm_link).to_have_count(1)
        await confirm_link.click()
        await expect(owner.get_by_role("heading", level=1)).to_have_text("You are confirmed")
        gift_link = owner.get_by_role("link", name="Download guide.pdf", exact=True)
        assert await _download(owner, gift_link, tmp_path) == PDF
        await steps.done(owner, "confirmed")

        # 8. The lead is in the table, from TikTok and confirmed; mark it a customer.
        await owner.goto(instance.url("/admin/leads"))
        leads_table = owner.get_by_role("table")
        lead_link = leads_table.get_by_role("link", name=VISITOR_EMAIL, exact=True)
        await expect(lead_link).to_be_visible()
        lead_row = leads_table.get_by_role("row").filter(
            has=owner.get_by_role("link", name=VISITOR_EMAIL, exact=True)
        )
        for value in (f"@{HANDLE}", "tiktok", "confirmed"):
            await expect(lead_row.get_by_role("cell", name=value, exact=True)).to_be_visible()
        await steps.done(owner, "leads")
        await lead_link.click()
        await owner.get_by_label("Value", exact=True).fill("49")
        await owner.get_by_label("Currency", exact=True).fill("EUR")
        await _submit(owner, owner, "Mark as customer")
        await expect(owner.get_by_role("status")).to_have_text("Marked as customer.")
        await expect(owner.get_by_text("49.00 EUR", exact=True)).to_be_visible()
        await steps.done(owner, "customer")

        # 9. Today's TikTok likes for the handle.
        await owner.get_by_role("link", name="Likes", exact=True).click()
        picker = owner.get_by_role("form", name="Handle and day to enter")
        await picker.get_by_label("Handle", exact=True).select_option(HANDLE)
        await _submit(picker, owner, "Show this day")
        day_form = owner.get_by_role("form", name=f"Enter a day for @{HANDLE}")
        today = await day_form.get_by_label("Day", exact=True).input_value()
        await day_form.get_by_label("tiktok likes", exact=True).fill(str(LIKES))
        await _submit(day_form, owner, "Save this day")
        await expect(owner.get_by_role("status")).to_have_text(
            f"Saved {today} for @{HANDLE}: 1 platform."
        )
        await steps.done(owner, "likes")

        # 10. The report shows like-to-lead for TikTok: 1 lead from 1,000 likes.
        await owner.get_by_role("link", name="Report", exact=True).click()
        await owner.get_by_label("Handle", exact=True).select_option(HANDLE)
        await _submit(owner, owner, "Show")
        per_source = owner.get_by_role("region", name="Per source")
        tiktok = await _row(per_source.get_by_role("table"), "tiktok")
        assert tiktok["Likes"] == "1,000", tiktok
        assert tiktok["Visits"] == "1", tiktok
        assert tiktok["Leads"] == "1", tiktok
        assert tiktok["Customers"] == "1", tiktok
        assert tiktok["Like → lead"] == "0.10%", tiktok
        await steps.done(owner, "report")

        # 11. Erase the lead by email address; it is gone from the table.
        await owner.get_by_role("link", name="Leads", exact=True).click()
        await owner.get_by_role("link", name="Privacy: export or erase an address").click()
        erase = owner.get_by_role("form", name="Erase every lead of an address")
        await erase.get_by_label("Email address", exact=True).fill(VISITOR_EMAIL)
        await erase.get_by_label("Type the address again to confirm").fill(VISITOR_EMAIL)
        await _submit(erase, owner, "Erase for good")
        await expect(owner.get_by_role("status")).to_have_text("Erased 1 lead.")
        await steps.done(owner, "erased")
        await owner.get_by_role("link", name="← All leads").click()
        await expect(owner.get_by_role("heading", level=1)).to_have_text("Leads")
        await expect(owner.get_by_text(VISITOR_EMAIL)).to_have_count(0)
    finally:
        await owner_context.close()
        await visitor_context.close()
    for watch in watches:
        watch.assert_clean("the journey")
