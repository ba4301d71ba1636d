"""Where a webhook may be sent: the URL's host is resolved and every address it resolves to must
be public (no loopback, private, link-local, multicast, reserved or unspecified address, IPv4 or
IPv6, IPv4-mapped and NAT64/6to4-embedded included), unless `LEADLINK_WEBHOOK_ALLOW_PRIVATE`.

The check runs when an endpoint is created or changed and again before every attempt (DNS may
have changed since). The request then connects to the address that was checked, not to a
second lookup of the name (`Target.url` names the address, `Host` and TLS SNI the name), so a
short-TTL DNS answer cannot swap in an internal address between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.external_urls import InvalidHost, canonical_host, check_external_url

__all__ = ["RESOLVE_TIMEOUT_SECONDS", "Target", "TargetRefused", "refusal", "resolve_target"]

RESOLVE_TIMEOUT_SECONDS = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """The URL is unusable or its host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: `url` has the address in place of the host name."""

    url: httpx.URL
    host_header: str
    sni_hostname: str
    address: str


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """What kind of address `address` is when webhooks may not reach it ("loopback", …), or
    None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal(embedded)
    for kind, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Shared (100.64/10), documentation, benchmarking and other special-purpose ranges.
        ("non-public", not address.is_global),
    ):
        if flagged:
            return kind
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise TargetRefused(f"resolving {host} timed out") from exc
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        # A scoped IPv6 address (fe80::1%eth0) is link-local either way.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    return addresses


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parse(url: str) -> httpx.URL:
    """`url` with its host as a client would use it (`canonical_host`: `0177.0.0.1` is
    127.0.0.1, `①②⑦.0.0.1` too, a name is punycode), so that the address checked and the one
    connected to are the same and httpx never meets a spelling it refuses."""
    parts = urlsplit(url)
    try:
        host = canonical_host(parts.hostname or "")
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        return httpx.URL(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))
    except (InvalidHost, httpx.InvalidURL, ValueError) as exc:
        raise TargetRefused(f"This is not a valid URL: {exc}") from exc


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Check `url` and resolve its host; `TargetRefused` says why it cannot be used.

    Every address the name resolves to is checked (one internal record among public ones is
    refused too); the first is the one connected to.
    """
    problem = check_external_url(url)
    if problem is not None:
        raise TargetRefused(problem)
    parsed = _parse(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    if not allow_private:
        for address in addresses:
            kind = refusal(address)
            if kind is None:
                continue
            where = host if _is_literal(host) else f"{host} resolves to {address}"
            article = "an" if kind[0] in "aeiou" else "a"
            raise TargetRefused(
                f"{where}: {article} {kind} address; webhooks only go to public addresses "
                "(LEADLINK_WEBHOOK_ALLOW_PRIVATE=true allows others)"
            )
    chosen = addresses[0]
    return Target(
        url=parsed.copy_with(host=str(chosen)),
        host_header=parsed.netloc.decode("ascii"),
        sni_hostname=host,
        address=str(chosen),
    )
