"""Pure rules: which addresses webhooks may reach, how `Retry-After` is read, how requests are
signed, and that the documented receiver example checks exactly what it should."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime

import pytest

from app.webhooks.sender import WEBHOOK_RETRY_POLICY, parse_retry_after
from app.webhooks.signing import SecretCipher, SecretUnreadable, new_secret, signature_header
from app.webhooks.targets import TargetRefused, refusal, resolve_target
from tests.webhooks.webhook_helpers import EXAMPLE, verify_webhook


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:c0a8:0101::1", "private"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_which_addresses_webhooks_may_reach(address: str, kind: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


async def test_a_target_is_pinned_to_the_checked_address() -> None:
    target = await resolve_target("http://localhost:8080/hook?x=1", allow_private=True)
    assert target.address in {"127.0.0.1", "::1"}
    assert target.url.host == target.address
    assert target.url.path == "/hook"
    assert target.url.query == b"x=1"
    assert target.host_header == "localhost:8080"
    assert target.sni_hostname == "localhost"
    with pytest.raises(TargetRefused, match=r"localhost resolves to .*loopback"):
        await resolve_target("http://localhost:8080/hook", allow_private=False)
    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve_target("http://no-such-host.invalid/hook", allow_private=True)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Sun, 22 Nov 2026 10:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_webhook_retries_span_at_least_a_day() -> None:
    assert WEBHOOK_RETRY_POLICY.minimum_span.total_seconds() >= 24 * 3600


def test_secrets_are_encrypted_and_bound_to_the_instance_key() -> None:
    secret = new_secret()
    cipher = SecretCipher("k" * 48)
    token = cipher.encrypt(secret)
    assert secret not in token
    assert cipher.decrypt(token) == secret
    with pytest.raises(SecretUnreadable):
        SecretCipher("other" * 10).decrypt(token)


def test_the_documented_example_verifies_signatures() -> None:
    code = EXAMPLE.read_text()
    assert len(code.splitlines()) <= 20
    assert code.strip() in (EXAMPLE.parents[1] / "webhooks.md").read_text(), "docs quote it"
    old, new = new_secret(), new_secret()
    body = '{"id":"evt_1","type":"ping"}'
    now = int(time.time())

    def headers(timestamp: int, *secrets: str, event_id: str = "evt_1") -> dict[str, str]:
        return {
            "Leadlink-Id": event_id,
            "Leadlink-Timestamp": str(timestamp),
            "Leadlink-Signature": signature_header(event_id, timestamp, body, secrets),
        }

    raw = body.encode()
    assert verify_webhook(raw, headers(now, new), new)
    assert verify_webhook(raw, headers(now, new, old), old), "either v1 is enough"
    assert verify_webhook(raw, headers(now, new, old), new)
    assert not verify_webhook(raw, headers(now, new), old)
    assert not verify_webhook(raw + b" ", headers(now, new), new), "the body is signed"
    forged = {**headers(now, new), "Leadlink-Id": "evt_2"}
    assert not verify_webhook(raw, forged, new), "the event id is signed"
    assert not verify_webhook(raw, headers(now - 301, new), new), "too old"
    assert not verify_webhook(raw, headers(now + 301, new), new), "from the future"
    assert verify_webhook(raw, headers(now - 290, new), new)
    assert not verify_webhook(raw, {**headers(now, new), "Leadlink-Signature": "v1=00"}, new)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://0177.0.0.1:8080/hook", "127.0.0.1"),
        ("http://\u2460\u2461\u2466.0.0.1:8080/hook", "127.0.0.1"),
        ("http://0x7f.1:8080/hook", "127.0.0.1"),
        ("http://2130706433:8080/hook", "127.0.0.1"),
        ("http://[0:0:0:0:0:0:0:1]:8080/hook", "::1"),
    ],
)
async def test_an_odd_spelling_of_an_address_is_sent_to_that_address(
    url: str, address: str
) -> None:
    target = await resolve_target(url, allow_private=True)
    assert (target.address, target.url.host, target.url.port) == (address, address, 8080)
    with pytest.raises(TargetRefused, match="loopback"):
        await resolve_target(url, allow_private=False)


async def test_a_stored_url_no_client_can_use_is_refused_not_raised() -> None:
    for url in ("http://\u0661\u0662\u0667.0.0.1/hook", "http://999.0.0.1/hook"):
        with pytest.raises(TargetRefused):
            await resolve_target(url, allow_private=True)
