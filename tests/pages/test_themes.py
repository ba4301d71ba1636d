"""Every theme is readable: the colours in the CSS a visitor actually gets meet WCAG AA."""

from __future__ import annotations

import re

import pytest

from app.errors import outage_page
from app.pages.models import Page
from app.pages.rendering import LandingRenderer, render_unsubscribe
from app.pages.themes import THEMES, theme_css

# (foreground, background, minimum ratio): text needs 4.5:1 (WCAG 1.4.3), the borders of fields
# and buttons and the focus ring 3:1 (WCAG 1.4.11).
PAIRS = [
    ("fg", "bg", 4.5),
    ("muted", "bg", 4.5),
    ("accent", "bg", 4.5),
    ("error", "bg", 4.5),
    ("btn-fg", "btn-bg", 4.5),
    ("fg", "field-bg", 4.5),
    ("fg", "surface", 4.5),
    ("muted", "surface", 4.5),
    ("accent", "surface", 4.5),
    ("border", "bg", 3.0),
    ("border", "field-bg", 3.0),
    ("btn-bg", "bg", 3.0),
    ("error", "field-bg", 3.0),
]


def luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def palettes(html: str) -> list[dict[str, str]]:
    """Each `:root{…}` block's custom properties (a dark-scheme block is a palette of its own)."""
    blocks = re.findall(r":root\{([^}]*)\}", html)
    assert blocks
    return [dict(re.findall(r"--([a-z-]+):(#[0-9a-f]{6})", block)) for block in blocks]


def landing_html(theme: str) -> str:
    page = Page(id=1, slug="p", title="T", headline="", body="", theme=theme)
    return LandingRenderer("https://x.example").landing(page, "tok").decode()


@pytest.mark.parametrize(
    "html",
    [
        *(pytest.param(landing_html(theme), id=theme) for theme in THEMES),
        pytest.param(render_unsubscribe(action_url="/u/t", done=False), id="no-theme"),
        pytest.param(outage_page(), id="error-page"),
    ],
)
def test_colours_in_the_css_meet_wcag_aa(html: str) -> None:
    for palette in palettes(html):
        for fg, bg, minimum in PAIRS:
            ratio = contrast(palette[fg], palette[bg])
            assert ratio >= minimum, f"{fg} on {bg}: {ratio:.2f} < {minimum}"


@pytest.mark.parametrize("theme", THEMES)
def test_each_theme_looks_different_and_uses_system_fonts_only(theme: str) -> None:
    html = landing_html(theme)
    assert str(theme_css(theme)) in html
    assert "@font-face" not in html
    others = [landing_html(other) for other in THEMES if other != theme]
    assert all(palettes(html)[0]["bg"] != palettes(other)[0]["bg"] for other in others)


def test_an_unknown_theme_falls_back_to_clean() -> None:
    assert landing_html("neon") == landing_html("clean")


def test_screens_without_a_page_use_the_clean_theme_with_a_dark_variant() -> None:
    # base.html spells this fallback out for the error pages, which have no page and no theme.
    assert str(theme_css("clean", dark="bold")) in outage_page()
