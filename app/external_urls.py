"""Which external URLs leadlink may send a visitor or a request to: route targets, thank-you
redirects and webhook endpoints share this one rule."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["MAX_TARGET_URL_LENGTH", "check_external_url"]

MAX_TARGET_URL_LENGTH = 2048
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def check_external_url(url: str) -> str | None:
    """Why `url` cannot be a redirect target, or None when it can.

    Only absolute http(s) URLs with a host are accepted: no `javascript:` or `data:`, no
    scheme-relative `//host`, no backslashes or control characters (browsers read `\\` as `/`),
    no credentials in the URL, nothing longer than 2,048 characters.
    """
    if len(url) > MAX_TARGET_URL_LENGTH:
        return f"A URL has at most {MAX_TARGET_URL_LENGTH} characters."
    if _UNSAFE_URL_CHARS.search(url):
        return "A URL cannot contain spaces, control characters or backslashes."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in {"http", "https"}:
        return "Only http:// and https:// URLs can be targets."
    if not parts.hostname or parts.netloc.startswith("@"):
        return "The URL needs a host name."
    if parts.username is not None or parts.password is not None:
        return "A target URL cannot carry a user name or password."
    if port == 0:
        return "This is not a valid URL."
    return None
