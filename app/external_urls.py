"""Which external URLs leadlink may send a visitor or a request to: route targets, thank-you
redirects and webhook endpoints share this one rule."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["MAX_TARGET_URL_LENGTH", "check_external_url", "check_thank_you_url"]

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


_LOCAL_NAMES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


def check_thank_you_url(url: str) -> str | None:
    """Why `url` cannot be a page's thank-you redirect, or None when it can.

    The route-target rule, plus: https only (the visitor has just typed their address), and no
    host that only makes sense inside a network (`localhost`, `.local`, a private, loopback or
    otherwise non-public IP literal). The visitor's browser follows it, not the server, so the
    name is not resolved; this catches the mistakes, not a determined owner.
    """
    problem = check_external_url(url)
    if problem:
        return problem
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "A thank-you address must start with https://."
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(_LOCAL_NAMES) or ("." not in host and ":" not in host):
        return "A thank-you address needs a public host name, not a local one."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return "A thank-you address cannot point to a private or local IP address."
    return None
