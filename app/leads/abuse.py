"""Telling people from bots at the opt-in form, without JavaScript or cookies.

The form carries the signed time it was rendered (in the attribution field). A submission less
than two seconds after that is a bot; one more than a day later is a stale form, shown again.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MAX_FORM_AGE_SECONDS", "MIN_FILL_SECONDS", "FormTiming", "judge_form_timing"]

MIN_FILL_SECONDS = 2
MAX_FORM_AGE_SECONDS = 24 * 3600


class FormTiming(StrEnum):
    HUMAN = "human"
    TOO_FAST = "too_fast"
    STALE = "stale"


def judge_form_timing(rendered_at: int | None, now: float) -> FormTiming:
    """`rendered_at` is None when the form's token is missing or forged: treat it as stale."""
    if rendered_at is None:
        return FormTiming.STALE
    age = now - rendered_at
    if age < MIN_FILL_SECONDS:
        return FormTiming.TOO_FAST
    if age > MAX_FORM_AGE_SECONDS:
        return FormTiming.STALE
    return FormTiming.HUMAN
