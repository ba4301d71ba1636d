"""A page body's Markdown: what the owner writes is shown, nothing they write can run or load."""

from __future__ import annotations

import pytest

from app.pages.markdown import render_markdown


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("**bold** and *em*", "<p><strong>bold</strong> and <em>em</em></p>\n"),
        (
            "[site](https://example.com/a?b=1&c=2)",
            '<p><a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">site</a></p>\n',
        ),
        (
            "[x](http://example.com)",
            '<p><a href="http://example.com" rel="nofollow noopener">x</a>',
        ),
        ("<hi@example.com>", '<a href="mailto:hi@example.com" rel="nofollow noopener">'),
        ("# Big", "<h2>Big</h2>"),
        ("###### Small", "<h6>Small</h6>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
    ],
)
def test_markdown_is_rendered(source: str, expected: str) -> None:
    assert expected in render_markdown(source)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<a href='javascript:alert(1)'>x</a>",
        '<div style="background:url(https://evil.example/x)">x</div>',
        "<iframe src=https://evil.example></iframe>",
    ],
)
def test_raw_html_is_shown_as_text(source: str) -> None:
    html = str(render_markdown(source))
    assert "<" not in html.replace("<p>", "").replace("</p>", "")
    assert "&lt;" in html


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java&#x09;script:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](file:///etc/passwd)",
        "[x](//evil.example/path)",
        "[x](/relative)",
        "<javascript:alert(1)>",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
        "![x](javascript:alert(1))",
    ],
)
def test_only_http_https_and_mailto_links_survive(source: str) -> None:
    html = str(render_markdown(source))
    assert "href" not in html
    assert "src" not in html


def test_images_become_links_so_the_body_loads_nothing() -> None:
    html = str(render_markdown('![A "chart"](https://cdn.example/chart.png)'))
    assert "<img" not in html
    assert "src=" not in html
    assert (
        '<a href="https://cdn.example/chart.png" rel="nofollow noopener">A &#34;chart&#34;</a>'
        in html
    )


def test_attribute_break_outs_in_link_urls_are_encoded() -> None:
    html = str(render_markdown('[x](https://example.com/"onmouseover="alert(1))'))
    assert '"onmouseover' not in html
    assert "%22onmouseover=%22alert(1" in html
