"""The text forms the API's fields accept: regular expressions for the OpenAPI schema (pydantic
enforces them as written there), each with the sentence a 422 shows when a value breaks it.

Pydantic's own message quotes the expression ("String should match pattern '^[^\\x00-…'"),
which tells an API client nothing it can act on; `app.errors` shows `problem_with(pattern)`.
"""

from __future__ import annotations

__all__ = [
    "CURRENCY",
    "CURSOR",
    "CUSTOM_FIELD_KEY",
    "FIELD_KEY",
    "HANDLE_NAME",
    "HANDLE_REF",
    "IDEMPOTENCY_KEY",
    "IMAGE_URL",
    "MONEY",
    "ONE_LINE",
    "ONE_LINE_NOT_BLANK",
    "OPTION",
    "PAGE_REF",
    "SLUG",
    "TARGET_URL",
    "TEXT",
    "UNDESCRIBED",
    "VARIANT",
    "described",
    "problem_with",
]

_PROBLEMS: dict[str, str] = {}
UNDESCRIBED = "This value is not in a form this field accepts."


def described(pattern: str, problem: str) -> str:
    """Register the sentence a 422 shows for a value that breaks `pattern`; returns `pattern`."""
    _PROBLEMS[pattern] = problem
    return pattern


def problem_with(pattern: str) -> str:
    return _PROBLEMS.get(pattern, UNDESCRIBED)


# Blanks as `str.strip` sees them, and control characters, spelt out: `\s` differs between
# regex engines (ECMA's has U+FEFF but not U+0085).
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

ONE_LINE = described(r"^[^\x00-\x1f\x7f]*$", "Must be a single line without control characters.")
ONE_LINE_NOT_BLANK = described(
    rf"^[^\x00-\x1f\x7f]*[^{_BLANK}][^\x00-\x1f\x7f]*$",
    "Must be a single line without control characters, and not blank.",
)
# Text may span lines (tab, LF or CRLF) but has no other control characters.
TEXT = described(
    r"^(?:[^\x00-\x08\x0b-\x1f\x7f]|\r\n)*$",
    "Must be text without control characters (tabs and line breaks are fine).",
)
# No surrounding blanks, so options that differ as sent still differ once trimmed.
OPTION = described(
    rf"^[^{_BLANK}](?:[^\x00-\x1f\x7f]*[^{_BLANK}])?$",
    "Must be a single line without control characters or blanks at either end.",
)
SLUG = described(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$",
    "Must be 1 to 64 of a-z, 0-9 and '-', not starting or ending with '-'.",
)
PAGE_REF = described(r"^[A-Za-z0-9-]{1,64}$", "Must be a page's slug: 1 to 64 of a-z, 0-9 and '-'.")
HANDLE_NAME = described(
    r"^@?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,28}[A-Za-z0-9])?$",
    "Must be 1 to 30 of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or a digit "
    "(an '@' in front is ignored).",
)
HANDLE_REF = described(
    r"^@?[A-Za-z0-9._-]{1,30}$",
    "Must be a handle's name: 1 to 30 of a-z, 0-9, '.', '_' and '-' (an '@' in front is ignored).",
)
CUSTOM_FIELD_KEY = described(r"^[a-z0-9_]{1,32}$", "Must be 1 to 32 of a-z, 0-9 and '_'.")
FIELD_KEY = described(r"^[A-Za-z0-9_.-]{1,40}$", "Must be 1 to 40 of a-z, 0-9, '.', '_' and '-'.")
VARIANT = described(r"^[A-Za-z0-9_.-]{1,32}$", "Must be 1 to 32 of a-z, 0-9, '.', '_' and '-'.")
MONEY = described(
    r"^[0-9]{1,10}(\.[0-9]{1,2})?$", 'Must be an amount with at most two decimals, e.g. "49.00".'
)
CURRENCY = described(r"^[A-Za-z]{3}$", "Must be a three-letter ISO 4217 code, e.g. EUR.")
# http(s), a plain host name (and port), no blanks, control characters or backslashes.
TARGET_URL = described(
    r"^https?://[A-Za-z0-9.-]+(?::[1-9][0-9]{0,3})?(?:[/?#][^\x00-\x20\x7f-\x9f\\]*)?$",
    "Must be an http:// or https:// address with a plain host name, and without blanks, "
    "control characters or backslashes.",
)
# An https:// URL with a plain host name (and port), or empty for none.
IMAGE_URL = described(
    r"^(?:https://[A-Za-z0-9.-]+(?::[1-9][0-9]{0,3})?(?:[/?#][^\x00-\x20\x7f-\x9f\\]*)?)?$",
    "Must be an https:// address with a plain host name, and without blanks, control "
    "characters or backslashes (or empty for none).",
)
CURSOR = described(
    r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", "Must be the `next_cursor` of a previous page, as given."
)
IDEMPOTENCY_KEY = described(
    r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
    "Must be printable ASCII without blanks at either end.",
)
