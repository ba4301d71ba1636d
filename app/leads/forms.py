"""Reading the opt-in form: a pure function from the posted fields and the page to clean values,
or field errors a visitor can act on. Nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.leads.exceptions import InvalidOptIn
from app.pages.models import Page

__all__ = ["HONEYPOT_FIELD", "OptInForm", "parse_opt_in_form"]

HONEYPOT_FIELD = "website"
ATTRIBUTION_FIELD = "a"
MAX_FIELDS = 12
MAX_EMAIL = 320
MAX_NAME = 200
MAX_CUSTOM_VALUE = 500
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class OptInForm:
    email: str
    name: str | None
    consent: bool
    fields: dict[str, str]
    attribution_token: str
    honeypot_filled: bool
    values: dict[str, str] = field(default_factory=dict)  # as typed, to re-render the form
    # The address as mail servers take it (an internationalised domain in its ASCII form),
    # checked by the same validation as `email`; empty when not known.
    recipient: str = ""


def _allowed_fields(page: Page) -> set[str]:
    allowed = {ATTRIBUTION_FIELD, "email", HONEYPOT_FIELD, "consent"}
    if page.name_field != "off":
        allowed.add("name")
    allowed.update(f"f_{custom['key']}" for custom in page.custom_fields)
    return allowed


def _check_shape(page: Page, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    if len(pairs) > MAX_FIELDS:
        raise InvalidOptIn({"form": "The form has too many fields."})
    allowed = _allowed_fields(page)
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise InvalidOptIn({"form": "The form has a field this page does not ask for."})
        if name in values:
            raise InvalidOptIn({"form": f"The field {name!r} was sent twice."})
        values[name] = value
    return values


def _check_characters(values: dict[str, str]) -> None:
    # A line break in a name would end up in email headers; a NUL in the database.
    bad = {name: "This field cannot contain line breaks or control characters." for name, value
           in values.items() if _CONTROL.search(value)}  # fmt: skip
    if bad:
        raise InvalidOptIn(bad, {k: _CONTROL.sub(" ", v) for k, v in values.items()})


def _custom_value(custom: dict[str, Any], raw: str | None, errors: dict[str, str]) -> str | None:
    key = f"f_{custom['key']}"
    label = str(custom.get("label") or custom["key"])
    value = (raw or "").strip()
    kind = custom.get("type", "text")
    if kind == "checkbox":
        value = "yes" if value == "yes" else ""
    if not value:
        if custom.get("required"):
            errors[key] = f"Please fill in {label}."
        return None
    if kind == "select" and value not in [str(option) for option in custom.get("options", [])]:
        errors[key] = f"Please choose one of the options for {label}."
        return None
    if len(value) > MAX_CUSTOM_VALUE:
        errors[key] = f"{label} has at most {MAX_CUSTOM_VALUE} characters."
        return None
    return value


def parse_opt_in_form(page: Page, pairs: Sequence[tuple[str, str]]) -> OptInForm:
    """The form's clean values, or `InvalidOptIn` naming each field that needs another look."""
    values = _check_shape(page, pairs)
    _check_characters(values)
    errors: dict[str, str] = {}

    email = recipient = ""
    raw_email = values.get("email", "").strip()
    if not raw_email:
        errors["email"] = "Please enter your email address."
    elif len(raw_email) > MAX_EMAIL:
        errors["email"] = "This email address is too long."
    else:
        try:
            checked = validate_email(raw_email, check_deliverability=False)
        except EmailNotValidError as exc:
            errors["email"] = f"This email address is not valid: {exc}"
        else:
            # One lead per address: Anna@… and anna@… are the same person to everyone but RFC.
            email = checked.normalized.lower()
            recipient = (checked.ascii_email or checked.normalized).lower()

    name = values.get("name", "").strip() or None
    if page.name_field == "required" and not name:
        errors["name"] = "Please enter your name."
    elif name and len(name) > MAX_NAME:
        errors["name"] = f"A name has at most {MAX_NAME} characters."

    # Asking for the gift is the request; the checkbox is consent to more (marketing) and must be
    # freely given, so it is optional and the ledger records whichever way it was ticked.
    consent = values.get("consent") == "yes"

    custom_values: dict[str, str] = {}
    for custom in page.custom_fields:
        value = _custom_value(custom, values.get(f"f_{custom['key']}"), errors)
        if value is not None:
            custom_values[str(custom["key"])] = value

    if errors:
        raise InvalidOptIn(errors, values)
    return OptInForm(
        email=email,
        name=name,
        consent=consent,
        fields=custom_values,
        attribution_token=values.get(ATTRIBUTION_FIELD, ""),
        honeypot_filled=bool(values.get(HONEYPOT_FIELD, "").strip()),
        values=values,
        recipient=recipient,
    )
