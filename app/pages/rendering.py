"""Rendering the visitor's pages: the landing page (fast: rendered once per page version into the
HTML before and after its per-visit attribution token, then reused), the form with errors, the
thank-you, confirmation, gift and unsubscribe pages, and the owner's preview.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from app.pages.markdown import render_markdown
from app.pages.models import Page
from app.pages.themes import DEFAULT_THEME, theme_css
from app.templating import render

__all__ = [
    "GiftView",
    "LandingRenderer",
    "render_confirmed",
    "render_gift",
    "render_preview",
    "render_still_unsubscribed",
    "render_thanks",
    "render_unsubscribe",
]

_MARKER = "\x00attribution\x00"
PREVIEW_ATTRIBUTION = "preview"
MAX_CACHED_PAGES = 2_000
FIELD_LABELS = {"email": "Email", "name": "Name", "consent": "Consent"}
# The in-app browsers app.links.sources detects, by the name people know them by.
APP_NAMES = {
    "instagram": "Instagram",
    "threads": "Threads",
    "facebook": "Facebook",
    "messenger": "Messenger",
    "tiktok": "TikTok",
    "x": "X",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "snapchat": "Snapchat",
    "telegram": "Telegram",
    "reddit": "Reddit",
    "line": "LINE",
    "wechat": "WeChat",
    "kakaotalk": "KakaoTalk",
}


@dataclass(frozen=True, slots=True)
class GiftView:
    """A gift as the visitor gets it; built by the opt-in flow (app.leads), shown here."""

    kind: str  # url | file | code | text
    title: str
    link: str | None  # url: the external URL; file: the absolute signed BASE_URL/g/{token} link
    code: str | None  # code
    text: str | None  # text (plain text, autoescaped, newlines kept)
    file_name: str | None


@dataclass(frozen=True, slots=True)
class FieldView:
    """A custom form field, posted as `f_<key>`."""

    name: str
    label: str
    type: str  # text | select | checkbox
    required: bool
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OpenGraph:
    title: str
    description: str
    image: str | None
    url: str


@dataclass(frozen=True, slots=True)
class SummaryItem:
    target: str | None  # the id of the field the error belongs to, when it is one
    label: str
    message: str


class LandingRenderer:
    """Landing pages for one base URL; each page version is rendered with Jinja only once."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # page id -> (updated_at, HTML before the token, HTML after it): a new version of a page
        # replaces the old one, so the cache holds at most one entry per page.
        self._parts: dict[int, tuple[datetime | None, bytes, bytes]] = {}

    def landing(self, page: Page, attribution_token: str) -> bytes:
        cached = self._parts.get(page.id)
        if cached is None or cached[0] != page.updated_at:
            if cached is None and len(self._parts) >= MAX_CACHED_PAGES:
                self._parts.clear()
            html = _render_landing(page, attribution=_MARKER, base_url=self.base_url)
            before, after = html.split(escape(_MARKER), 1)
            cached = (page.updated_at, before.encode("utf-8"), after.encode("utf-8"))
            self._parts[page.id] = cached
        # The token is base64url and '.', so it needs no escaping inside the attribute.
        return cached[1] + attribution_token.encode("ascii") + cached[2]

    def form_with_errors(
        self,
        page: Page,
        attribution_token: str,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        notice: str | None = None,
    ) -> str:
        """The landing page again, with the visitor's input kept and each error at its field."""
        return _render_landing(
            page,
            attribution=attribution_token,
            base_url=self.base_url,
            values=values,
            errors=errors,
            notice=notice,
        )


def render_preview(page: Page, *, base_url: str = "", frame: bool = False) -> str:
    """The landing page as a visitor would see it (drafts too), with a dummy attribution token.

    `frame`: for the admin editor's preview frame, where the form is shown disabled, so a
    click in the preview can send nothing (an unsaved page has no address to post to).
    """
    return _render_landing(
        page, attribution=PREVIEW_ATTRIBUTION, base_url=base_url.rstrip("/"), frame=frame
    )


def render_thanks(
    page: Page,
    *,
    double_opt_in: bool,
    gift: GiftView | None,
    in_app_browser: str | None,
    android: bool,
) -> str:
    """After the opt-in: "check your inbox" (double opt-in), or the gift itself."""
    return render(
        "pages/thanks.html",
        **_visitor_context(page, gift, in_app_browser, android),
        heading="Check your inbox" if double_opt_in else "Thank you!",
        double_opt_in=double_opt_in,
    )


def render_confirmed(
    page: Page,
    *,
    gift: GiftView,
    in_app_browser: str | None,
    android: bool,
    already: bool,
) -> str:
    """After the confirmation link: the gift (confirming twice shows it again)."""
    return render(
        "pages/confirmed.html",
        **_visitor_context(page, gift, in_app_browser, android),
        heading="You are already confirmed" if already else "You are confirmed",
        already=already,
    )


def render_still_unsubscribed(page: Page) -> str:
    """An old confirmation link of a lead who unsubscribed since: it changed nothing; the
    page's own form is the way back in."""
    return render(
        "pages/still_unsubscribed.html",
        page=page,
        theme_css=theme_css(page.theme or DEFAULT_THEME),
        heading="You are unsubscribed",
    )


def render_gift(page: Page, *, gift: GiftView) -> str:
    """The gift on its own, reached through its signed link (a file gift is downloaded instead)."""
    context = _visitor_context(page, gift, None, android=False)
    return render("pages/gift.html", **{**context, "gift_heading": False})


def render_unsubscribe(*, action_url: str, done: bool) -> str:
    """`done=False`: one button that POSTs to `action_url`; `done=True`: the confirmation."""
    return render(
        "pages/unsubscribe.html",
        action_url=action_url,
        done=done,
        heading="You are unsubscribed" if done else "Unsubscribe?",
    )


def _render_landing(
    page: Page,
    *,
    attribution: str,
    base_url: str,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
    frame: bool = False,
) -> str:
    fields = _custom_fields(page)
    errors = errors or {}
    return render(
        "pages/landing.html",
        page=page,
        attribution=attribution,
        base_url=base_url,
        theme_css=theme_css(page.theme or DEFAULT_THEME),
        body_html=render_markdown(page.body) if page.body else Markup(""),
        og=_open_graph(page, base_url),
        fields=fields,
        name_field=page.name_field or "optional",
        consent_text=page.consent_text or "",
        double_opt_in=page.double_opt_in is not False,
        values=values or {},
        errors=errors,
        error_list=_error_summary(errors, fields),
        notice=notice,
        preview_frame=frame,
    )


def _visitor_context(
    page: Page, gift: GiftView | None, in_app_browser: str | None, android: bool
) -> dict[str, Any]:
    return {
        "page": page,
        "theme_css": theme_css(page.theme or DEFAULT_THEME),
        "gift": gift,
        "gift_heading": True,
        "in_app_browser": in_app_browser,
        "app_name": APP_NAMES.get(in_app_browser or "", "this app"),
        "intent_link": _intent_link(gift.link) if android and gift and gift.link else None,
    }


def _intent_link(link: str) -> str | None:
    """An Android intent that opens `link` in the default browser instead of the app's webview.

    Only for absolute http(s) links: an intent URL needs the host and the scheme.
    """
    parts = urlsplit(link)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    query = f"?{parts.query}" if parts.query else ""
    return f"intent://{parts.netloc}{parts.path}{query}#Intent;scheme={parts.scheme};end"


def _open_graph(page: Page, base_url: str) -> OpenGraph:
    return OpenGraph(
        title=page.og_title or page.title,
        description=page.og_description or page.headline or page.title,
        # The hero makes a better preview card than none at all; link previews need an
        # absolute address, also for an image uploaded to this server (`/media/…`).
        image=_absolute(page.og_image_url or page.hero_image_url, base_url),
        url=f"{base_url}/p/{page.slug}",
    )


def _absolute(url: str | None, base_url: str) -> str | None:
    return f"{base_url}{url}" if url and url.startswith("/") else url


def _custom_fields(page: Page) -> list[FieldView]:
    views = []
    for spec in page.custom_fields or []:
        key = str(spec.get("key", ""))
        if not key:
            continue
        views.append(
            FieldView(
                name=f"f_{key}",
                label=str(spec.get("label") or key),
                type=str(spec.get("type", "text")),
                required=bool(spec.get("required", False)),
                options=tuple(str(option) for option in spec.get("options") or ()),
            )
        )
    return views


def _error_summary(errors: Mapping[str, str], fields: list[FieldView]) -> list[SummaryItem]:
    labels = {**FIELD_LABELS, **{field.name: field.label for field in fields}}
    return [
        SummaryItem(target=name if name in labels else None, label=labels.get(name, ""), message=m)
        for name, m in errors.items()
    ]
