"""Verify a leadlink webhook (stdlib only): pass the raw body bytes, the request headers and
your endpoint's signing secret; True means leadlink sent it within the last 5 minutes."""

import hashlib
import hmac
import time


def verify_webhook(body: bytes, headers: dict[str, str], secret: str, tolerance: int = 300) -> bool:
    parts = [part.strip().partition("=") for part in headers["Leadlink-Signature"].split(",")]
    timestamp = next((value for name, _, value in parts if name == "t"), "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False  # missing, or too old / too new: a replayed request
    signed = f"{headers['Leadlink-Id']}.{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # During a secret rotation there are two v1 values: one of them is enough.
    return any(hmac.compare_digest(expected, value) for name, _, value in parts if name == "v1")
