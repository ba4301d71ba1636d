"""Webhook signing secrets: made, kept encrypted at rest, and used to sign each request.

`Leadlink-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{id}.{t}.{body}">`, with one
`v1=` per secret that signs (two during a rotation), as Stripe does: a receiver accepts the
request when any `v1` matches its secret.

Secrets are stored as Fernet tokens under a key derived (HKDF-SHA256) from `LEADLINK_SECRET_KEY`.
Changing `LEADLINK_SECRET_KEY` therefore makes stored webhook secrets unreadable: deliveries
fail with a clear error until each endpoint's secret is rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "SECRET_PREFIX",
    "SecretCipher",
    "SecretUnreadable",
    "cipher_for",
    "new_secret",
    "sign",
    "signature_header",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (LEADLINK_SECRET_KEY changed since it was made)."""


def new_secret() -> str:
    """A signing secret with 256 bits of entropy, prefixed so people recognise it."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class SecretCipher:
    """Encrypts and decrypts signing secrets with a key derived from the instance's secret key."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"leadlink-webhook-secrets"
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadable(
                "the signing secret cannot be decrypted (LEADLINK_SECRET_KEY changed?); "
                "rotate the endpoint's secret"
            ) from exc


@lru_cache(maxsize=4)
def cipher_for(secret_key: str) -> SecretCipher:
    return SecretCipher(secret_key)


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    """The hex HMAC-SHA256 of `{event_id}.{timestamp}.{body}` under `secret`."""
    message = f"{event_id}.{timestamp}.{body}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(event_id: str, timestamp: int, body: str, secrets: Iterable[str]) -> str:
    """`t=…,v1=…[,v1=…]`: one signature per secret, the current one first."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={sign(secret, event_id, timestamp, body)}" for secret in secrets]
    return ",".join(parts)
