"""Reading the opt-in form: what a visitor typing into it sees as errors, and what is stored."""

from __future__ import annotations

import pytest

from app.leads.exceptions import InvalidOptIn
from app.leads.forms import parse_opt_in_form
from app.pages.models import Page


def make_page(**overrides: object) -> Page:
    values: dict[str, object] = {
        "id": 1,
        "handle_id": 1,
        "slug": "guide",
        "title": "Guide",
        "name_field": "optional",
        "custom_fields": [],
        "consent_text": "",
        "consent_version": 1,
        "double_opt_in": True,
    }
    values.update(overrides)
    return Page(**values)


def errors_of(page: Page, pairs: list[tuple[str, str]]) -> dict[str, str]:
    with pytest.raises(InvalidOptIn) as caught:
        parse_opt_in_form(page, pairs)
    return caught.value.field_messages


def test_valid_form_is_normalised() -> None:
    form = parse_opt_in_form(
        make_page(), [("a", "tok"), ("email", " Anna.Smith@Example.COM "), ("name", " Anna ")]
    )
    assert form.email == "anna.smith@example.com"
    assert form.name == "Anna"
    assert form.attribution_token == "tok"
    assert not form.honeypot_filled


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Please enter your email address."),
        ("not-an-email", "not valid"),
        ("anna@", "not valid"),
        ("a" * 400 + "@example.com", "too long"),
    ],
)
def test_bad_email_is_named(email: str, message: str) -> None:
    assert message in errors_of(make_page(), [("email", email)])["email"]


@pytest.mark.parametrize("field", ["email", "name"])
@pytest.mark.parametrize("bad", ["x\r\nBcc: evil@example.com", "x\nY", "nul\x00byte"])
def test_line_breaks_and_control_characters_are_refused(field: str, bad: str) -> None:
    pairs = [("email", "anna@example.com"), ("name", "Anna")]
    pairs = [(name, bad if name == field else value) for name, value in pairs]
    assert field in errors_of(make_page(), pairs)


def test_required_name_consent_and_custom_fields() -> None:
    page = make_page(
        name_field="required",
        consent_text="Send me the gift and the weekly letter.",
        custom_fields=[
            {"key": "role", "label": "Your role", "type": "select", "required": True,
             "options": ["creator", "shop"]},
            {"key": "size", "label": "Audience", "type": "text", "required": False},
        ],
    )  # fmt: skip
    errors = errors_of(page, [("email", "anna@example.com"), ("f_role", "pirate")])
    assert set(errors) == {"name", "f_role"}  # consent is optional: ticking it is a choice
    form = parse_opt_in_form(
        page,
        [("email", "anna@example.com"), ("name", "Anna"), ("consent", "yes"),
         ("f_role", "shop"), ("f_size", "")],
    )  # fmt: skip
    assert form.consent
    assert form.fields == {"role": "shop"}
    unticked = parse_opt_in_form(
        page, [("email", "anna@example.com"), ("name", "Anna"), ("f_role", "shop")]
    )
    assert not unticked.consent


@pytest.mark.parametrize(
    "pairs",
    [
        [("email", "a@example.com"), ("is_admin", "1")],
        [("email", "a@example.com"), ("email", "b@example.com")],
        [("email", "a@example.com")] + [(f"x{i}", "1") for i in range(20)],
        [("email", "a@example.com"), ("name", "x")],  # the page has no name field
    ],
)
def test_unknown_duplicate_or_too_many_fields_are_refused(pairs: list[tuple[str, str]]) -> None:
    assert "form" in errors_of(make_page(name_field="off"), pairs)


def test_honeypot_is_noticed() -> None:
    form = parse_opt_in_form(make_page(), [("email", "a@example.com"), ("website", "spam.biz")])
    assert form.honeypot_filled


def test_typed_values_are_kept_for_the_form() -> None:
    with pytest.raises(InvalidOptIn) as caught:
        parse_opt_in_form(make_page(), [("email", "nope"), ("name", '"><script>x</script>')])
    assert caught.value.values["name"] == '"><script>x</script>'
