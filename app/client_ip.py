"""The visitor's IP address: the TCP peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import HTTPConnection

__all__ = ["TrustedProxies", "joined_forwarded_for"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Decides which address a request really comes from.

    X-Forwarded-For is read right to left and every hop that is itself a trusted proxy is skipped,
    so a client cannot spoof its address by sending its own header: the first untrusted hop wins.
    """

    def __init__(self, networks: Sequence[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._is_trusted = lru_cache(maxsize=1024)(self._check)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str:
        peer = peer or ""
        if not self._networks or not forwarded_for or not self._is_trusted(peer):
            return peer
        for hop in reversed(forwarded_for[:1024].split(",")):
            candidate = hop.strip()
            if not candidate:
                continue
            if not self._is_trusted(candidate):
                return candidate[:45] if _is_ip(candidate) else peer
        return peer

    def of_request(self, request: HTTPConnection) -> str:
        """`client_ip` of a Starlette request: its peer and its `X-Forwarded-For` lines."""
        peer = request.client.host if request.client else None
        lines = request.headers.getlist("x-forwarded-for")
        return self.client_ip(peer, joined_forwarded_for(lines))


def joined_forwarded_for(lines: Sequence[str]) -> str | None:
    """Every `X-Forwarded-For` line of a request as one list, in order (None: no line).

    A proxy may add its hop as a header line of its own (HAProxy's `option forwardfor` does)
    rather than extend the client's line. Reading only the first line would then believe
    whatever the client wrote; joined, the chain is read right to left as usual.
    """
    return ", ".join(lines) if lines else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
