"""QR codes of the one link, drawn by `segno` (pure Python, no image library): SVG to show in a
page or download, PNG to download.

Always a full QR code (never a Micro QR, which many phone cameras cannot read), error correction
level M, the standard four-module quiet zone. The SVG carries a `<title>` (its accessible name)
and no `style` attribute, so pages with `style-src 'self'` may inline it.
"""

from __future__ import annotations

import io

import segno

__all__ = ["PNG_MEDIA_TYPE", "SVG_MEDIA_TYPE", "qr_png", "qr_svg"]

SVG_MEDIA_TYPE = "image/svg+xml"
PNG_MEDIA_TYPE = "image/png"
# Pixels per module of a download: a version 3 code (most one links) is 370 px wide, enough to
# print on a flyer; the SVG scales to any size anyway.
DOWNLOAD_SCALE = 10
INLINE_SCALE = 4


def _code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m", boost_error=False)


def qr_svg(url: str, *, title: str, inline: bool = False) -> str:
    """The QR code of `url` as an SVG document titled `title`.

    Inline (in a page), it has a `viewBox` but no size, so the stylesheet sizes it, and
    `role="img"` so assistive technology reads its title; a download has its pixel size.
    """
    buffer = io.BytesIO()
    _code(url).save(
        buffer,
        kind="svg",
        xmldecl=not inline,
        svgns=True,
        title=title,
        svgclass="qr-code",
        lineclass=None,
        omitsize=inline,
        scale=INLINE_SCALE if inline else DOWNLOAD_SCALE,
        nl=not inline,
        # A download may be printed on any background: its quiet zone is white, not transparent.
        light=None if inline else "white",
    )
    svg = buffer.getvalue().decode("utf-8")
    if inline:
        svg = svg.replace("<svg ", '<svg role="img" ', 1)
    return svg


def qr_png(url: str) -> bytes:
    """The QR code of `url` as a PNG image, black on white."""
    buffer = io.BytesIO()
    _code(url).save(buffer, kind="png", scale=DOWNLOAD_SCALE, light="white")
    return buffer.getvalue()
