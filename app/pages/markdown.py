"""The Markdown of a page body, rendered to safe HTML: raw HTML is shown as text, only http(s)
and mailto links survive (with rel="nofollow noopener"), images become links, headings start at h2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup, escape

__all__ = ["ALLOWED_LINK_SCHEMES", "render_markdown"]

ALLOWED_LINK_SCHEMES = ("http:", "https:", "mailto:")
LINK_REL = "nofollow noopener"


class _PageMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:  # noqa: N802 (markdown-it's name)
        # The URL is normalised here (entities decoded, percent-encoded), so a prefix test is
        # exact: `java&#x09;script:` or ` javascript:` cannot pass. A rejected link stays text.
        return url.lower().startswith(ALLOWED_LINK_SCHEMES)


def _link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, idx, options, env)


def _image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # The hero is the page's one image: body images would be requests to hosts nobody checked
    # and weight the 30 KB budget cannot afford, so they are shown as links to the image.
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escape(src)}" rel="{LINK_REL}">{escape(alt)}</a>'


def _heading(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # The page's headline is its only h1; the body's headings sit one level below it.
    token = tokens[idx]
    token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return renderer.renderToken(tokens, idx, options, env)


def _build() -> MarkdownIt:
    options: dict[str, Any] = {"html": False, "linkify": False, "typographer": False}
    md = _PageMarkdown("js-default", options)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    md.add_render_rule("heading_open", _heading)
    md.add_render_rule("heading_close", _heading)
    return md


_MARKDOWN = _build()


def render_markdown(source: str) -> Markup:
    """The body's HTML, safe to insert into an autoescaped template as is."""
    return Markup(_MARKDOWN.render(source))  # noqa: S704 (markdown-it escapes; raw HTML is off)
