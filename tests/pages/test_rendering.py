"""The pages a visitor sees, rendered from in-memory pages (no database): the landing page and its
form, the form with errors, the thank-you, confirmation, gift and unsubscribe pages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.pages.models import Page
from app.pages.rendering import (
    GiftView,
    LandingRenderer,
    render_confirmed,
    render_gift,
    render_preview,
    render_thanks,
    render_unsubscribe,
)
from app.pages.schemas import MAX_BODY_LENGTH

BASE_URL = "https://leads.example"
HERO = "https://img.example/hero.jpg"
OG_IMAGE = "https://img.example/card.jpg"
ATTACK = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"
THEMES = ["clean", "bold", "warm"]


def make_page(**overrides: Any) -> Page:
    values: dict[str, Any] = {
        "id": 7,
        "handle_id": 1,
        "slug": "guide",
        "title": "The free guide",
        "headline": "Get the 7-day checklist",
        "body": "One page, **seven habits**.",
        "hero_image_url": None,
        "gift_kind": "text",
        "gift_value": "Thanks!",
        "gift_file_name": None,
        "gift_title": "The checklist",
        "name_field": "optional",
        "custom_fields": [],
        "consent_text": "",
        "consent_version": 1,
        "double_opt_in": True,
        "theme": "clean",
        "og_title": None,
        "og_description": None,
        "og_image_url": None,
        "status": "published",
        "updated_at": datetime(2026, 11, 22, tzinfo=UTC),
    }
    values.update(overrides)
    return Page(**values)


FULL_FIELDS = [
    {"key": "role", "label": "Your role", "type": "select", "required": True,
     "options": ["Coach", "Shop owner", "Creator"]},
    {"key": "company", "label": "Company", "type": "text", "required": False, "options": []},
    {"key": "size", "label": "Team size", "type": "select", "required": False,
     "options": ["1", "2-10", "11+"]},
    {"key": "tips", "label": "Weekly tips too", "type": "checkbox", "required": False,
     "options": []},
    {"key": "city", "label": "City", "type": "text", "required": True, "options": []},
]  # fmt: skip


def long_body(size: int = MAX_BODY_LENGTH) -> str:
    """Realistic Markdown of about `size` characters: headings, lists, emphasis, quotes, code."""
    section = (
        "## Day {n}: show up where your people are\n\n"
        "Most creators post and hope. **Today** you pick *one* platform & one format, "
        "and you commit to it for a week. Write down why < and > matter to you.\n\n"
        "- Pick the platform where your last 10 comments came from\n"
        "- Block 30 minutes in your calendar\n"
        "- Reuse one idea three ways: a post, a story, a short video\n\n"
        "> Consistency beats intensity. Every single time.\n\n"
        "Use the `hook → value → ask` pattern for every caption.\n\n"
    )
    body, n = "", 1
    while len(body) + len(section) < size:
        body += section.format(n=n)
        n += 1
    return (body + "x" * (size - len(body)))[:size]


def full_page(theme: str, **overrides: Any) -> Page:
    values: dict[str, Any] = {
        "theme": theme,
        "body": long_body(),
        "hero_image_url": HERO,
        "og_image_url": OG_IMAGE,
        "name_field": "required",
        "custom_fields": FULL_FIELDS,
        "consent_text": "Yes, send me the newsletter. I can unsubscribe at any time. " * 4,
    }
    return make_page(**{**values, **overrides})


class Tags(HTMLParser):
    """Every start tag with its attributes, for asserting on structure rather than text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> dict[str, str | None]:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]


def landing(page: Page, token: str = "tok.en") -> str:
    return LandingRenderer(BASE_URL).landing(page, token).decode("utf-8")


# -- the landing page --------------------------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
def test_landing_page_stays_under_30_kb_with_a_10_kb_body(theme: str) -> None:
    page = full_page(theme)
    assert len(page.body) == MAX_BODY_LENGTH
    html = landing(page)
    assert len(html.encode("utf-8")) < 30 * 1024
    errors = {f"f_{f['key']}": "Please fill this in." for f in FULL_FIELDS}
    values = {f"f_{f['key']}": "Coach" for f in FULL_FIELDS}
    with_errors = LandingRenderer(BASE_URL).form_with_errors(
        page, "tok", {"email": "a" * 300, "name": "n" * 200, **values}, errors, notice="Again."
    )
    assert len(with_errors.encode("utf-8")) < 30 * 1024


@pytest.mark.parametrize("theme", THEMES)
def test_landing_page_loads_nothing_from_elsewhere(theme: str) -> None:
    html = landing(full_page(theme, body="A body with **no** links."))
    assert "<script" not in html
    # The one <link> is the empty icon, which spares each visit a /favicon.ico request.
    assert html.count("<link") == 1
    assert '<link rel="icon" href="data:,">' in html
    assert "@import" not in html
    assert "url(" not in html
    tags = Tags(html)
    allowed = {HERO, OG_IMAGE}
    for _tag, attrs in tags.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name)
            if value is not None and urlsplit(value).netloc:
                assert value in allowed, (name, value)
    # The owner's images are the only requests to another host.
    assert tags.one("img")["src"] == HERO
    assert {a["content"] for a in tags.find("meta", property="og:image")} == {OG_IMAGE}


@pytest.mark.parametrize("theme", THEMES)
def test_landing_page_structure_and_form_contract(theme: str) -> None:
    html = landing(full_page(theme), token="abc.DEF_123")
    tags = Tags(html)
    assert tags.one("html")["lang"] == "en"
    assert html.count("<h1") == 1
    assert "onclick" not in html
    assert "on" + "submit" not in html
    assert "display:none" not in html.replace(" ", "")

    form = tags.one("form")
    assert form == {"method": "post", "action": "/p/guide"}  # no query string, no novalidate
    assert tags.one("input", name="a") == {"type": "hidden", "name": "a", "value": "abc.DEF_123"}
    email = tags.one("input", name="email")
    assert email["type"] == "email"
    assert email["autocomplete"] == "email"
    assert "required" in email
    assert "required" in tags.one("input", name="name")
    consent = tags.one("input", name="consent")
    assert (consent["type"], consent["value"]) == ("checkbox", "yes")
    assert "required" in tags.one("select", name="f_role")
    assert tags.one("input", name="f_tips")["value"] == "yes"
    assert tags.one("input", name="f_company")["type"] == "text"
    honeypot = tags.one("input", name="website")
    assert honeypot["tabindex"] == "-1"
    assert honeypot["autocomplete"] == "off"
    assert '<label for="website">Leave this empty</label>' in html
    assert ".hp{position:absolute;left:-10000px" in html

    # Every visible control has its own label.
    labels = {a["for"] for a in tags.find("label")}
    controls = [a for t, a in tags.tags if t in {"input", "select"} and a.get("type") != "hidden"]
    assert controls
    assert all(control["id"] == control["name"] for control in controls)
    assert {control["id"] for control in controls} <= labels
    assert "tok" not in html.split("<body>")[0]  # the token is in the form only


def test_name_field_off_and_no_consent_text_leave_those_fields_out() -> None:
    tags = Tags(landing(make_page(name_field="off", consent_text="")))
    assert not tags.find("input", name="name")
    assert not tags.find("input", name="consent")
    optional = Tags(landing(make_page(name_field="optional")))
    assert "required" not in optional.one("input", name="name")


def meta_tags(html: str) -> dict[str | None, str | None]:
    return {
        a.get("property") or a.get("name"): a["content"]
        for a in Tags(html).find("meta")
        if "content" in a
    }


def test_open_graph_tags_fall_back_to_title_and_headline() -> None:
    meta = meta_tags(landing(make_page()))
    assert meta["og:title"] == "The free guide"
    assert meta["og:description"] == "Get the 7-day checklist"
    assert meta["og:url"] == f"{BASE_URL}/p/guide"
    assert meta["twitter:card"] == "summary"
    assert "og:image" not in meta

    meta = meta_tags(
        landing(make_page(og_title="OG", og_description="Desc", og_image_url=OG_IMAGE))
    )
    assert (meta["og:title"], meta["og:description"], meta["og:image"]) == ("OG", "Desc", OG_IMAGE)
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["twitter:image"] == OG_IMAGE


def test_the_rendered_page_is_reused_until_the_page_changes() -> None:
    renderer = LandingRenderer(BASE_URL)
    page = make_page()
    first = renderer.landing(page, "one")
    second = renderer.landing(page, "two")
    assert first.replace(b'value="one"', b'value="two"') == second
    page.headline = "A new headline"
    assert b"A new headline" not in renderer.landing(page, "three")  # same version: cached
    page.updated_at = page.updated_at + timedelta(seconds=1)
    assert b"A new headline" in renderer.landing(page, "three")


@pytest.mark.parametrize("theme", THEMES)
def test_page_text_and_kept_values_are_always_escaped(theme: str) -> None:
    page = make_page(
        theme=theme,
        title=ATTACK,
        headline=ATTACK,
        body=ATTACK,
        consent_text=ATTACK,
        gift_title=ATTACK,
        og_title=ATTACK,
        og_description=ATTACK,
        custom_fields=[
            {"key": "a", "label": ATTACK, "type": "text", "required": False},
            {"key": "b", "label": ATTACK, "type": "select", "options": [ATTACK, "ok"]},
            {"key": "c", "label": ATTACK, "type": "checkbox"},
        ],
    )
    values = {"email": ATTACK, "name": ATTACK, "f_a": ATTACK, "f_b": ATTACK}
    errors = {"email": ATTACK, "f_a": ATTACK}
    renderer = LandingRenderer(BASE_URL)
    for html in (
        renderer.landing(page, "tok").decode(),
        renderer.form_with_errors(page, "tok", values, errors, notice=ATTACK),
        render_preview(page),
        render_thanks(page, double_opt_in=True, gift=None, in_app_browser=None, android=False),
    ):
        assert "<script" not in html
        assert "<img" not in html
        assert "onerror=" not in html.replace("onerror=alert", "")  # only as escaped text
        assert "&lt;script&gt;" in html
        tags = Tags(html)
        # The attack never became an attribute or element of its own.
        assert not any("onerror" in attrs for _tag, attrs in tags.tags)
        assert all(tag in KNOWN_TAGS for tag, _attrs in tags.tags), {t for t, _ in tags.tags}


KNOWN_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "form", "input",
    "div", "label", "select", "option", "button", "ul", "li", "a", "strong", "section", "img",
    "link",
}  # fmt: skip


def test_form_with_errors_keeps_values_and_names_each_field() -> None:
    page = make_page(
        custom_fields=FULL_FIELDS, consent_text="Newsletter please", name_field="required"
    )
    values = {
        "email": "anna@example",
        "name": "Anna",
        "f_role": "Shop owner",
        "f_company": "Acme & Co",
        "f_tips": "yes",
        "consent": "yes",
        "website": "should not come back",
    }
    errors = {
        "email": "Enter an email address like name@example.com.",
        "f_city": "Enter your city.",
    }
    html = LandingRenderer(BASE_URL).form_with_errors(page, "fresh.token", values, errors)
    tags = Tags(html)

    assert html.startswith("<!doctype html>")
    assert "<title>Error: The free guide</title>" in html
    email = tags.one("input", name="email")
    assert email["value"] == "anna@example"
    assert email["aria-invalid"] == "true"
    assert email["aria-describedby"] == "email-error"
    assert tags.one("p", id="email-error")["class"] == "error"
    assert "Enter an email address like name@example.com." in html
    city = tags.one("input", name="f_city")
    assert (city["aria-invalid"], city["aria-describedby"]) == ("true", "f_city-error")
    assert "aria-invalid" not in tags.one("input", name="name")
    assert tags.one("input", name="name")["value"] == "Anna"
    assert tags.one("input", name="f_company")["value"] == "Acme & Co"
    assert tags.one("option", value="Shop owner").get("selected", "absent") is None
    assert "checked" in tags.one("input", name="f_tips")
    assert "checked" in tags.one("input", name="consent")
    assert "value" not in tags.one("input", name="website")
    assert tags.one("input", name="a")["value"] == "fresh.token"

    summary = tags.one("div", role="alert")
    assert "summary" in (summary["class"] or "")
    assert html.index('role="alert"') < html.index("<h1")  # at the top of the page
    assert tags.one("a", href="#email")
    assert tags.one("a", href="#f_city")
    assert "City: Enter your city." in html


def test_form_with_errors_shows_a_notice_and_errors_that_belong_to_no_field() -> None:
    html = LandingRenderer(BASE_URL).form_with_errors(
        make_page(), "tok", {}, {"form": "Please try again."}, notice="This form had expired."
    )
    tags = Tags(html)
    assert tags.one("div", role="status")
    assert "This form had expired." in html
    assert "<li>Please try again.</li>" in html


def test_preview_renders_drafts_with_a_dummy_token() -> None:
    html = render_preview(make_page(status="draft", headline="Draft headline"), base_url=BASE_URL)
    assert "Draft headline" in html
    assert Tags(html).one("input", name="a")["value"] == "preview"


# -- after the form ----------------------------------------------------------------------------

FILE_GIFT = GiftView(
    kind="file",
    title="The checklist",
    link=f"{BASE_URL}/g/signed.token",
    code=None,
    text=None,
    file_name="checklist.pdf",
)


def test_double_opt_in_thanks_says_check_your_inbox() -> None:
    html = render_thanks(
        make_page(), double_opt_in=True, gift=None, in_app_browser=None, android=False
    )
    tags = Tags(html)
    assert "<h1>Check your inbox</h1>" in html
    assert "The checklist" in html
    assert tags.one("meta", name="robots")["content"] == "noindex"
    assert "Open in your browser" not in html


def test_double_opt_in_thanks_in_an_app_says_the_gift_follows_by_email() -> None:
    html = render_thanks(
        make_page(), double_opt_in=True, gift=None, in_app_browser="tiktok", android=False
    )
    assert "Check your inbox" in html
    assert "TikTok" in html
    assert "email it to you as well" in html


def test_thanks_without_double_opt_in_shows_the_gift() -> None:
    gift = GiftView("code", "10% off", None, "SAVE10", None, None)
    html = render_thanks(
        make_page(double_opt_in=False),
        double_opt_in=False,
        gift=gift,
        in_app_browser=None,
        android=False,
    )
    assert "Check your inbox" not in html
    assert '<p class="code">SAVE10</p>' in html
    assert "10% off" in html
    assert "emailed" not in html


def test_in_app_android_file_gift_offers_an_intent_link() -> None:
    html = render_thanks(
        make_page(double_opt_in=False),
        double_opt_in=False,
        gift=FILE_GIFT,
        in_app_browser="instagram",
        android=True,
    )
    tags = Tags(html)
    assert "also emailed" in html
    assert tags.one("a", href=f"{BASE_URL}/g/signed.token")  # the download itself
    intent = tags.one("a", href="intent://leads.example/g/signed.token#Intent;scheme=https;end")
    assert intent["class"] == "button alt"
    assert "Open in your browser" in html
    assert "Instagram" in html


def test_in_app_ios_file_gift_offers_the_plain_link_and_the_menu_hint() -> None:
    html = render_confirmed(
        make_page(), gift=FILE_GIFT, in_app_browser="instagram", android=False, already=False
    )
    tags = Tags(html)
    assert "intent:" not in html
    assert len(tags.find("a", href=f"{BASE_URL}/g/signed.token")) == 2
    assert "Open in your browser" in html
    assert "Open in browser" in html  # the hint names the app's menu entry
    assert "also emailed" in html


def test_a_normal_browser_gets_no_in_app_help() -> None:
    html = render_confirmed(
        make_page(), gift=FILE_GIFT, in_app_browser=None, android=True, already=False
    )
    assert "Open in your browser" not in html
    assert "emailed" not in html
    assert "Download checklist.pdf" in html


def test_confirmed_page_says_when_it_was_already_confirmed() -> None:
    gift = GiftView("url", "The course", "https://course.example/start", None, None, None)
    first = render_confirmed(
        make_page(), gift=gift, in_app_browser=None, android=False, already=False
    )
    again = render_confirmed(
        make_page(), gift=gift, in_app_browser=None, android=False, already=True
    )
    assert "<h1>You are confirmed</h1>" in first
    assert "<h1>You are already confirmed</h1>" in again
    for html in (first, again):
        link = Tags(html).one("a", href="https://course.example/start")
        assert link["rel"] == "noopener"
        assert html.count("<h1") == 1


def test_gift_page_shows_a_text_gift_escaped_with_its_line_breaks() -> None:
    gift = GiftView("text", "Your <notes>", None, None, "Line one\n<b>Line two</b>", None)
    html = render_gift(make_page(theme="warm"), gift=gift)
    assert "<h1>Your &lt;notes&gt;</h1>" in html
    assert '<p class="text">Line one\n&lt;b&gt;Line two&lt;/b&gt;</p>' in html
    assert ".text{white-space:pre-line}" in html
    assert html.count("<h1") == 1
    assert "--bg:#fdf6ec" in html  # the page's theme


def test_unsubscribe_asks_with_one_post_button_then_confirms() -> None:
    ask = render_unsubscribe(action_url="/u/tok.en", done=False)
    tags = Tags(ask)
    assert tags.one("form") == {"method": "post", "action": "/u/tok.en"}
    assert len(tags.find("button")) == 1
    assert not tags.find("input")
    done = render_unsubscribe(action_url="/u/tok.en", done=True)
    assert "<h1>You are unsubscribed</h1>" in done
    assert "<form" not in done


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(lambda: landing(make_page()), id="landing"),
        pytest.param(
            lambda: render_thanks(
                make_page(), double_opt_in=False, gift=FILE_GIFT, in_app_browser="x", android=True
            ),
            id="thanks",
        ),
        pytest.param(lambda: render_gift(make_page(), gift=FILE_GIFT), id="gift"),
        pytest.param(lambda: render_unsubscribe(action_url="/u/t", done=False), id="unsubscribe"),
    ],
)
def test_every_page_has_a_language_one_h1_and_no_script(html: Any) -> None:
    text = html()
    assert re.search(r'<html lang="en">', text)
    assert text.count("<h1") == 1
    assert "<script" not in text
    assert ":focus-visible{outline:3px solid" in text
