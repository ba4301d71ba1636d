"""Emails are rendered from templates/email: escaped HTML, raw text, one-line subjects, and the
unsubscribe headers; pure functions, no database."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import UTC, datetime, timedelta

import jinja2
import pytest

from app.delivery import service as outbox
from app.delivery.exceptions import InvalidRecipient
from app.delivery.mail import build_email, links_in
from app.delivery.worker import DEFAULT_RETRY_POLICY, RetryPolicy

PING = {"note": "Tom & <Jerry>", "link": "http://127.0.0.1:8000/p/demo?a=1&b=2"}


def test_html_part_is_escaped_and_text_part_is_not() -> None:
    rendered = outbox.render_email("ping", PING)
    assert "Tom &amp; &lt;Jerry&gt;" in rendered.html
    assert 'href="http://127.0.0.1:8000/p/demo?a=1&amp;b=2"' in rendered.html
    assert "Tom & <Jerry>" in rendered.text
    assert "http://127.0.0.1:8000/p/demo?a=1&b=2" in rendered.text
    assert rendered.subject == "leadlink test email: Tom & <Jerry>"


def test_html_email_has_no_external_resources() -> None:
    html = outbox.render_email("ping", PING).html
    assert "<img" not in html
    assert "<link" not in html
    assert "<script" not in html
    assert "style=" in html


@pytest.mark.parametrize(
    "note",
    [
        "hi\r\nBcc: evil@example.com",
        "hi\nBcc: evil@example.com",
        "hi\rBcc: evil@example.com",
        "hi\x00\x0b\x0c\x1b Bcc: evil@example.com",
        "hi\u2028\u2029\x85Bcc: evil@example.com",
    ],
)
def test_subject_is_one_line_whatever_the_context(note: str) -> None:
    subject = outbox.render_email("ping", {**PING, "note": note}).subject
    assert subject.isprintable()
    assert subject == "leadlink test email: hi Bcc: evil@example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  plain  ", "plain"),
        ("a\tb\r\nc", "a b c"),
        ("zero\u200bwidth", "zero width"),
        ("x" * 300, "x" * 199 + "…"),
    ],
)
def test_one_line(value: str, expected: str) -> None:
    assert outbox.one_line(value) == expected


def test_a_missing_template_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(jinja2.UndefinedError):
        outbox.render_email("ping", {"note": "no link given"})


def test_unsubscribe_headers() -> None:
    url = "https://leads.example.com/u/abc.def-123"
    assert outbox.unsubscribe_headers({}) == {}
    assert outbox.unsubscribe_headers({"unsubscribe_url": url}) == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with_mailto = outbox.unsubscribe_headers(
        {"unsubscribe_url": url, "unsubscribe_mailto": "Leave@Example.com"}
    )
    assert with_mailto["List-Unsubscribe"] == (
        f"<{url}>, <mailto:Leave@example.com?subject=unsubscribe>"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example/u/a\r\nBcc: evil@example.com",
        "https://x.example/u/a b",
        "https://x.example/u/a>,<https://evil.example",
        "javascript:alert(1)",
        "/u/relative",
    ],
)
def test_unsubscribe_url_that_could_break_the_header_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsubscribe_url"):
        outbox.unsubscribe_headers({"unsubscribe_url": url})


def test_recipients_are_validated_and_normalised() -> None:
    assert outbox.validate_recipient("Ann.Lee@Example.COM") == "Ann.Lee@example.com"
    for bad in ["ann@example.com\r\nBcc: evil@example.com", "not-an-address", "ann@", ""]:
        with pytest.raises(InvalidRecipient):
            outbox.validate_recipient(bad)


def test_mime_message_is_text_and_html_with_unfolded_unsubscribe_header() -> None:
    long_url = "https://leads.example.com/u/" + "t" * 150
    context = {**PING, "note": "Grüße", "unsubscribe_url": long_url}
    rendered = outbox.render_email("ping", context)
    payload = {
        "to": "ann@example.com",
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "headers": outbox.unsubscribe_headers(context),
        "message_id": "0123abcd",
    }
    sent_at = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    raw = build_email(payload, mail_from="Anna <hello@anna.example>", date=sent_at).as_bytes()

    assert f"List-Unsubscribe: <{long_url}>\r\n".encode() in raw
    assert raw.isascii()  # 7-bit transfer encodings: no 8BITMIME needed
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert parsed["Subject"] == "leadlink test email: Grüße"
    assert parsed["Message-ID"] == "<0123abcd@anna.example>"
    assert parsed["Date"] == "Sun, 22 Nov 2026 09:30:00 +0000"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_links_of_a_text_body() -> None:
    text = "Confirm: https://x.example/c/abc.\nOr (http://x.example/p/demo?a=1), thanks"
    assert links_in(text) == ["https://x.example/c/abc", "http://x.example/p/demo?a=1"]


def test_default_retry_policy_keeps_trying_for_a_day() -> None:
    policy = DEFAULT_RETRY_POLICY
    assert [policy.base_delay(n) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert policy.minimum_span >= timedelta(hours=24)
    assert policy.minimum_span < timedelta(hours=26)


def test_jitter_only_lengthens_the_delay() -> None:
    policy = RetryPolicy(first_delay=10, max_delay=100, jitter=0.5)
    rng = random.Random(7)
    for attempt in range(1, 12):
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        base = policy.base_delay(attempt)
        assert all(base <= delay <= base * 1.5 for delay in delays)
        assert len(set(delays)) > 1
