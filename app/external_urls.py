"""Which external URLs leadlink may send a visitor or a request to: route targets, thank-you
redirects and webhook endpoints share this one rule."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote, urlsplit

import idna

__all__ = [
    "MAX_TARGET_URL_LENGTH",
    "InvalidHost",
    "canonical_host",
    "check_external_url",
    "check_thank_you_url",
]

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
    try:
        canonical_host(parts.hostname)
    except InvalidHost as exc:
        return str(exc)
    return None


class InvalidHost(ValueError):
    """A URL's host that no HTTP client could connect to (the message says why)."""


_HOST_FORBIDDEN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
MAX_HOST_LENGTH = 253  # DNS: 255 octets on the wire
_ASCII_DIGITS = re.compile(r"[0-9]+")
_HEX_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*")
_OCTAL = re.compile(r"0[0-7]+")


def canonical_host(host: str) -> str:
    """The host an HTTP client (a browser, curl, getaddrinfo) would really use, or `InvalidHost`.

    Follows the WHATWG URL host parser, which is where the surprises are: the host is
    percent-decoded and mapped by UTS 46 (so `①②⑦`, full-width and other compatibility
    digits become ASCII), then a host whose last label is a number is an IPv4 address in any
    of its spellings (`0177.0.0.1`, `0x7f.1`, `2130706433`, `127.1`) and is returned dotted
    (`127.0.0.1`), or refused when it is not a valid one. IPv6 literals come back compressed;
    other names as lower-case ASCII (punycode), refused when they cannot be encoded.
    """
    if ":" in host:  # only an IPv6 literal has one (`urlsplit` strips the brackets)
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            address = None
        if address is None or address.scope_id is not None:
            raise InvalidHost(f"{host!r} is not a valid IPv6 address.")
        return address.compressed
    try:
        decoded = unicodedata.normalize("NFKC", unquote(host, errors="strict"))
        mapped = idna.uts46_remap(decoded, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError):
        raise InvalidHost(f"The host name {host!r} cannot be encoded.") from None
    if not mapped or _HOST_FORBIDDEN.search(mapped):
        raise InvalidHost(f"The host name {host!r} is not valid.")
    if _ends_in_number(mapped):
        return _ipv4(mapped, host)
    if mapped.isascii():
        encoded = mapped
    else:
        try:
            encoded = idna.encode(mapped, uts46=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidHost(f"The host name {host!r} cannot be encoded.") from None
        if _ends_in_number(encoded):
            return _ipv4(encoded, host)
    labels = _labels(encoded)
    if len(encoded) > MAX_HOST_LENGTH or not all(0 < len(label) <= 63 for label in labels):
        raise InvalidHost(f"The host name {host!r} cannot be encoded.")
    return encoded


def _labels(host: str) -> list[str]:
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot: the root
    return labels


def _ends_in_number(host: str) -> bool:
    last = _labels(host)[-1]
    return bool(_ASCII_DIGITS.fullmatch(last) or _HEX_NUMBER.fullmatch(last))


def _ipv4(host: str, original: str) -> str:
    """The dotted form of a host the WHATWG parser reads as IPv4, or `InvalidHost`."""
    invalid = InvalidHost(f"{original!r} is not a valid IPv4 address.")
    parts = _labels(host)
    if len(parts) > 4:
        raise invalid
    numbers: list[int] = []
    for part in parts:
        if _HEX_NUMBER.fullmatch(part):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not _OCTAL.fullmatch(part):
                raise invalid
            numbers.append(int(part, 8))
        elif _ASCII_DIGITS.fullmatch(part):
            numbers.append(int(part, 10))
        else:
            raise invalid
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last + sum(number << (8 * (3 - index)) for index, number in enumerate(leading))
    return str(ipaddress.IPv4Address(value))


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
    # As a browser reads it: `0177.0.0.1` and `①②⑦.0.0.1` are 127.0.0.1 (check_external_url
    # has made sure it can be read).
    host = canonical_host(parts.hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(_LOCAL_NAMES) or ("." not in host and ":" not in host):
        return "A thank-you address needs a public host name, not a local one."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return "A thank-you address cannot point to a private or local IP address."
    return None
