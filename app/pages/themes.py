"""The three page themes: colour palettes and system font stacks, emitted as CSS custom properties
inline in each page (no web fonts, no external stylesheet). Every text colour has a contrast of at
least 4.5:1 against the background it is drawn on (tests/pages/test_themes.py measures the CSS).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from markupsafe import Markup

from app.pages.models import Theme

__all__ = ["DEFAULT_THEME", "THEMES", "Palette", "theme_css"]

SANS = 'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif'
SERIF = 'Georgia,"Iowan Old Style","Palatino Linotype",Palatino,serif'


@dataclass(frozen=True, slots=True)
class Palette:
    scheme: str  # the CSS color-scheme, so form controls and scrollbars match
    bg: str
    fg: str
    muted: str
    accent: str  # links and the focus ring
    btn_bg: str
    btn_fg: str
    field_bg: str
    border: str
    error: str
    surface: str  # boxes: the gift, the error summary
    font: str
    head_font: str
    head_weight: str
    radius: str


THEMES: dict[str, Palette] = {
    Theme.CLEAN.value: Palette(
        scheme="light",
        bg="#ffffff",
        fg="#1a1a22",
        muted="#55565f",
        accent="#1d4ed8",
        btn_bg="#1d4ed8",
        btn_fg="#ffffff",
        field_bg="#ffffff",
        border="#6b6b76",
        error="#b3261e",
        surface="#f2f4f8",
        font=SANS,
        head_font=SANS,
        head_weight="700",
        radius=".5rem",
    ),
    Theme.BOLD.value: Palette(
        scheme="dark",
        bg="#0f172a",
        fg="#f8fafc",
        muted="#cbd5e1",
        accent="#facc15",
        btn_bg="#facc15",
        btn_fg="#0f172a",
        field_bg="#1e293b",
        border="#94a3b8",
        error="#fca5a5",
        surface="#1e293b",
        font=SANS,
        head_font=SANS,
        head_weight="900",
        radius=".25rem",
    ),
    Theme.WARM.value: Palette(
        scheme="light",
        bg="#fdf6ec",
        fg="#3a2616",
        muted="#6b4f3a",
        accent="#a63d14",
        btn_bg="#a63d14",
        btn_fg="#ffffff",
        field_bg="#fffdf9",
        border="#8a6a52",
        error="#a11d1d",
        surface="#f6e8d5",
        font=SANS,
        head_font=SERIF,
        head_weight="700",
        radius="1rem",
    ),
}
DEFAULT_THEME = Theme.CLEAN.value


def _declarations(palette: Palette) -> str:
    names = [f.name for f in fields(palette) if f.name != "scheme"]
    variables = ";".join(f"--{name.replace('_', '-')}:{getattr(palette, name)}" for name in names)
    return f"color-scheme:{palette.scheme};{variables}"


def theme_css(name: str | None, *, dark: str | None = None) -> Markup:
    """`:root{…}` for a theme (an unknown name gets the default); with `dark`, that theme is used
    when the visitor's system prefers a dark scheme. Constant CSS, safe inside `<style>`.
    """
    css = f":root{{{_declarations(THEMES.get(name or '', THEMES[DEFAULT_THEME]))}}}"
    if dark is not None:
        css += f"@media (prefers-color-scheme:dark){{:root{{{_declarations(THEMES[dark])}}}}}"
    return Markup(css)  # noqa: S704 (built from the constants above)
