"""The secrets of connections (API tokens, webhook signing secrets), encrypted at rest.

All of a connection's secrets are one JSON object, encrypted as one Fernet token
(AES-128-CBC + HMAC-SHA256) under a key derived with HKDF-SHA256 from `LEADLINK_SECRET_KEY`
and the purpose `leadlink-connection-secrets`: a copy of the database alone reveals no token.

Key rotation: set the new `LEADLINK_SECRET_KEY` and move the old one to
`LEADLINK_PREVIOUS_SECRET_KEYS`. Secrets are then read under any of the keys (MultiFernet) and
written under the new one; `leadlink connections rotate-key` re-encrypts every stored secret
under the new key at once, after which the old key can be dropped from the setting.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["ConnectionCipher", "SecretsUnreadable", "cipher_for", "mask"]

PURPOSE = b"leadlink-connection-secrets"
SHOWN_TAIL = 4


class SecretsUnreadable(Exception):
    """Stored secrets no key decrypts (`LEADLINK_SECRET_KEY` changed, the old one not kept in
    `LEADLINK_PREVIOUS_SECRET_KEYS`): the owner must paste them again."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


class ConnectionCipher:
    """Encrypts under the current key; decrypts under the current or any previous one."""

    def __init__(self, secret_key: str, previous_keys: Sequence[str] = ()) -> None:
        self._current = _fernet(secret_key)
        self._any = MultiFernet([self._current, *(_fernet(key) for key in previous_keys)])

    def encrypt(self, secrets: dict[str, str]) -> str:
        payload = json.dumps(secrets, separators=(",", ":"), sort_keys=True)
        return self._current.encrypt(payload.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> dict[str, str]:
        try:
            data = json.loads(self._any.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable(
                "The stored secret cannot be decrypted (LEADLINK_SECRET_KEY changed?): "
                "paste it again."
            ) from exc
        if not isinstance(data, dict):
            raise SecretsUnreadable("The stored secret is not readable: paste it again.")
        return {str(key): str(value) for key, value in data.items()}

    def is_current(self, token: str) -> bool:
        """Whether `token` is already under the current key (nothing to rotate)."""
        try:
            self._current.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same secrets under the current key (`SecretsUnreadable` if no key reads them)."""
        try:
            return self._any.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable("The stored secret cannot be decrypted.") from exc


@lru_cache(maxsize=4)
def cipher_for(secret_key: str, previous_keys: tuple[str, ...] = ()) -> ConnectionCipher:
    return ConnectionCipher(secret_key, previous_keys)


def mask(secret: str) -> str:
    """What the admin shows of a secret after it was entered: a recognisable prefix (such as
    `whsec_`) and the last four characters, never more than a quarter of it."""
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:8] else ""
    tail = secret[-SHOWN_TAIL:] if len(secret) >= 4 * SHOWN_TAIL else ""
    return f"{prefix}…{tail}"
