"""Each shop's documented way of proving a webhook came from it (docs/integrations.md).

- Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` the
  HMAC-SHA256 of `"{t}.{raw body}"` under the endpoint's signing secret (two during a secret
  roll: one matching is enough), and `t` within 300 seconds of now (replays of an old request).
- Shopify: `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the raw body under the app's
  (or the store's webhook) secret. No timestamp is signed: replays are caught by event id.
- Gumroad signs nothing. Its documented ping is a plain form POST to a URL the seller types,
  so the URL carries a random key leadlink made (`?key=…`), compared in constant time; a
  seller id, when the owner gave one, must match too.

Every check raises `SignatureRejected` with a sentence for the provider's delivery log; the
caller answers 400 and records nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = [
    "STRIPE_TOLERANCE_SECONDS",
    "SignatureRejected",
    "shopify_signature",
    "stripe_signature",
    "verify_gumroad",
    "verify_shopify",
    "verify_stripe",
]

STRIPE_TOLERANCE_SECONDS = 300  # the Stripe libraries' default tolerance


class SignatureRejected(Exception):
    """The request is not provably from the provider (or is too old)."""


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex `v1` signature Stripe sends for `body` at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_stripe(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    now: float,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> None:
    if not header:
        raise SignatureRejected("The Stripe-Signature header is missing.")
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureRejected("The Stripe-Signature header has no timestamp (t=).")
    if not signatures:
        raise SignatureRejected("The Stripe-Signature header has no v1 signature.")
    expected = stripe_signature(secret, int(timestamp), body)
    if not any(_same(expected, signature) for signature in signatures):
        raise SignatureRejected("No v1 signature matches this endpoint's signing secret.")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureRejected(
            f"The signature's timestamp is more than {tolerance} seconds from now."
        )


def shopify_signature(secret: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 Shopify sends for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_shopify(body: bytes, header: str | None, secret: str) -> None:
    if not header:
        raise SignatureRejected("The X-Shopify-Hmac-Sha256 header is missing.")
    if not _same(shopify_signature(secret, body), header.strip()):
        raise SignatureRejected("X-Shopify-Hmac-Sha256 does not match the signing secret.")


def verify_gumroad(given_key: str | None, url_key: str) -> None:
    if not given_key:
        raise SignatureRejected("The ping URL has no key: copy the whole URL from leadlink.")
    if not _same(url_key, given_key):
        raise SignatureRejected("The ping URL's key does not match this connection's.")
