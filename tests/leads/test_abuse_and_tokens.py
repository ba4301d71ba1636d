"""Form timing (bots are fast, stale forms are old) and the signed links in emails."""

from __future__ import annotations

import pytest

from app.leads.abuse import FormTiming, judge_form_timing
from app.leads.tokens import LeadTokens

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("rendered_at", "expected"),
    [
        (None, FormTiming.STALE),
        (NOW, FormTiming.TOO_FAST),
        (NOW - 1, FormTiming.TOO_FAST),
        (NOW + 60, FormTiming.TOO_FAST),
        (NOW - 2, FormTiming.HUMAN),
        (NOW - 3600, FormTiming.HUMAN),
        (NOW - 24 * 3600 - 1, FormTiming.STALE),
    ],
)
def test_form_timing(rendered_at: int | None, expected: FormTiming) -> None:
    assert judge_form_timing(rendered_at, NOW) is expected


def test_each_token_only_opens_its_own_door() -> None:
    tokens = LeadTokens("k" * 40)
    confirm = tokens.confirm(42)
    assert tokens.read_confirm(confirm) == 42
    assert tokens.read_unsubscribe(confirm) is None
    assert tokens.read_gift(confirm) is None
    assert tokens.read_unsubscribe(tokens.unsubscribe(42)) == 42
    assert tokens.read_gift(tokens.gift(7)) == 7


@pytest.mark.parametrize("garbage", ["", ".", "a.b", "x" * 5000, "é.é", "AAAA.AAAA"])
def test_garbage_tokens_are_refused(garbage: str) -> None:
    tokens = LeadTokens("k" * 40)
    assert tokens.read_confirm(garbage) is None
    assert tokens.read_unsubscribe(garbage) is None


def test_tokens_of_another_secret_are_refused() -> None:
    assert LeadTokens("a" * 40).read_confirm(LeadTokens("b" * 40).confirm(1)) is None
