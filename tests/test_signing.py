"""Signed tokens: links in emails sent last month must still open after an upgrade, so the
signature stays plain HMAC-SHA256 whatever shortcut computes it."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from app.signing import SIGNATURE_BYTES, BadSignature, Signer

SECRET = "s" * 48


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def standard_token(purpose: str, body: str) -> str:
    """A token computed the textbook way, as `hmac.digest` made them before."""
    key = hmac.new(SECRET.encode(), b"leadlink-signing:" + purpose.encode(), hashlib.sha256)
    mac = hmac.digest(key.digest(), body.encode("ascii"), "sha256")[:SIGNATURE_BYTES]
    return body + "." + _b64(mac)


@pytest.mark.parametrize("purpose", ["attribution", "confirm", "unsubscribe"])
def test_a_token_signed_the_textbook_way_is_accepted_and_reproduced(purpose: str) -> None:
    signer = Signer(SECRET, purpose)
    token = signer.sign_fields(["7", "instagram", "spring"], now=1_790_000_000)
    body = token.split(".")[0]

    assert token == standard_token(purpose, body)
    assert signer.unsign_fields(standard_token(purpose, body)) == (
        ["7", "instagram", "spring"],
        1_790_000_000,
    )


def test_a_token_of_another_purpose_or_altered_is_refused() -> None:
    token = Signer(SECRET, "confirm").sign({"lead": 12}, now=1_790_000_000)

    with pytest.raises(BadSignature):
        Signer(SECRET, "unsubscribe").unsign(token)
    body, mac = token.split(".")
    # The first character carries six bits of the MAC (the last one partly only padding).
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    with pytest.raises(BadSignature):
        Signer(SECRET, "confirm").unsign(body + "." + flipped)
    assert Signer(SECRET, "confirm").unsign(token)["lead"] == 12


def test_signing_many_tokens_in_a_row_does_not_carry_state_between_them() -> None:
    signer = Signer(SECRET, "attribution")
    tokens = [signer.sign_fields([str(n)], now=1_790_000_000) for n in range(50)]

    for n, token in enumerate(tokens):
        assert token == standard_token("attribution", token.split(".")[0])
        assert signer.unsign_fields(token)[0] == [str(n)]
