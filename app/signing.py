"""Compact signed tokens bound to one purpose (attribution field, confirmation, unsubscribe, gift).

A token is `base64url(payload).base64url(hmac)`; the HMAC key is derived from the secret key and
the purpose, so a token made for one purpose is never accepted for another. Payloads are JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["BadSignature", "Signer"]

FIELD_SEPARATOR = "\x1f"
SIGNATURE_BYTES = 16  # 128-bit truncated HMAC-SHA256: unforgeable, and short enough for URLs


class BadSignature(Exception):
    """The token was forged, corrupted, made for another purpose, or has expired."""


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64encode(data: bytes) -> str:
    # base64.urlsafe_b64encode, without its two Python-level wrappers (this runs per visit).
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies JSON payloads for one purpose; `t` (issued-at, seconds) is added."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        key = hmac.new(
            secret_key.encode("utf-8"), b"leadlink-signing:" + purpose.encode(), hashlib.sha256
        ).digest()
        # HMAC-SHA256 (RFC 2104) with the two padded key blocks hashed once, here: a token then
        # costs two hash copies instead of `hmac.digest`'s full set-up on every call.
        block = key.ljust(hashlib.sha256().block_size, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))

    def _mac(self, body: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:SIGNATURE_BYTES]

    def sign(self, payload: dict[str, Any], *, now: float | None = None) -> str:
        data = {**payload, "t": int(now if now is not None else time.time())}
        body = _b64encode(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        return body + "." + _b64encode(self._mac(body.encode("ascii")))

    def sign_fields(self, values: Sequence[str], *, now: float | None = None) -> str:
        """A token over a few strings without JSON (for the hottest path). The values must not
        contain the unit separator (U+001F); the issue time is appended as the last field.
        """
        issued = str(int(now if now is not None else time.time()))
        body = _b64encode(FIELD_SEPARATOR.join((*values, issued)).encode("utf-8"))
        return body + "." + _b64encode(self._mac(body.encode("ascii")))

    def unsign_fields(
        self, token: str, *, max_age_seconds: float | None = None, now: float | None = None
    ) -> tuple[list[str], int]:
        """The values and issue time of a genuine `sign_fields` token, or `BadSignature`."""
        body = self._verified_body(token)
        try:
            *values, issued = body.decode("utf-8").split(FIELD_SEPARATOR)
            issued_at = int(issued)
        except ValueError as exc:
            raise BadSignature("malformed payload") from exc
        self._check_age(issued_at, max_age_seconds, now)
        return values, issued_at

    def _verified_body(self, token: str) -> bytes:
        if len(token) > 4096 or token.count(".") != 1:
            raise BadSignature("malformed token")
        body, signature = token.split(".")
        try:
            expected = _b64encode(self._mac(body.encode("ascii"))).encode("ascii")
        except UnicodeEncodeError as exc:
            raise BadSignature("malformed token") from exc
        # The signature's own text is compared, not what it decodes to: base64 decoding forgives
        # padding and the unused bits of the last character, so `…==` or a changed last
        # character would decode to the same bytes and make one token many.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass")):
            raise BadSignature("signature does not match")
        try:
            return _b64decode(body)
        except (binascii.Error, ValueError) as exc:
            raise BadSignature("malformed payload") from exc

    @staticmethod
    def _check_age(issued_at: int, max_age_seconds: float | None, now: float | None) -> None:
        if max_age_seconds is not None:
            age = (now if now is not None else time.time()) - issued_at
            if age > max_age_seconds:
                raise BadSignature("token expired")

    def unsign(
        self, token: str, *, max_age_seconds: float | None = None, now: float | None = None
    ) -> dict[str, Any]:
        """The payload of a genuine token, or `BadSignature`. Never raises anything else."""
        try:
            data = json.loads(self._verified_body(token))
        except ValueError as exc:
            raise BadSignature("malformed payload") from exc
        if not isinstance(data, dict) or not isinstance(data.get("t"), int):
            raise BadSignature("malformed payload")
        self._check_age(data["t"], max_age_seconds, now)
        return data
