"""What a page is made of when it is created or changed: checked field by field here, and across
fields (the gift) by the page service. Used by the service, the CLI and the REST API.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.errors import FieldError, ValidationFailed
from app.links.routing import check_external_url
from app.pages.models import GiftKind, Theme

__all__ = [
    "MAX_BODY_LENGTH",
    "MAX_CUSTOM_FIELDS",
    "CustomField",
    "PageCreate",
    "PageUpdate",
    "field_errors",
]

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
FIELD_KEY_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
MAX_CUSTOM_FIELDS = 5
MAX_OPTIONS = 20
# A 10,000-character body keeps the whole landing page (HTML, CSS, form) under 30 KB.
MAX_BODY_LENGTH = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("page_field", message)


def _line(max_length: int, *, required: bool = False) -> AfterValidator:
    """One trimmed line: titles and labels end up in attributes, headers and email subjects."""

    def check(value: str) -> str:
        value = value.strip()
        if _CONTROL_OR_NEWLINE.search(value):
            raise _fail("Must be one line without control characters.")
        if required and not value:
            raise _fail("Cannot be empty.")
        if len(value) > max_length:
            raise _fail(f"Has at most {max_length} characters.")
        return value

    return AfterValidator(check)


def _text(max_length: int) -> AfterValidator:
    """Trimmed text that may span lines (Markdown, consent)."""

    def check(value: str) -> str:
        value = value.replace("\r\n", "\n").strip()
        if _CONTROL.search(value):
            raise _fail("Cannot contain control characters.")
        if len(value) > max_length:
            raise _fail(f"Has at most {max_length:,} characters.")
        return value

    return AfterValidator(check)


def _slug(value: str) -> str:
    slug = value.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise _fail(
            "A slug has 1 to 64 characters: letters a-z, digits and '-', not at either end."
        )
    return slug


def _image_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    # The page's Content-Security-Policy loads images over https: only (no mixed content).
    if not value.lower().startswith("https://"):
        raise _fail("Images must be https:// URLs.")
    problem = check_external_url(value)
    if problem:
        raise _fail(problem)
    return value


def _blank_to_none(value: str | None) -> str | None:
    return value or None


Slug = Annotated[str, AfterValidator(_slug)]
Title = Annotated[str, _line(200, required=True)]
Headline = Annotated[str, _line(300)]
Body = Annotated[str, _text(MAX_BODY_LENGTH)]
ConsentText = Annotated[str, _text(2_000)]
GiftTitle = Annotated[str, _line(200, required=True)]
ImageUrl = Annotated[str | None, AfterValidator(_image_url)]
OgTitle = Annotated[Annotated[str, _line(200)] | None, AfterValidator(_blank_to_none)]
OgDescription = Annotated[Annotated[str, _line(300)] | None, AfterValidator(_blank_to_none)]
NameField = Literal["off", "optional", "required"]


class CustomField(BaseModel):
    """A form field besides email and name, posted as `f_<key>`."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: Annotated[str, _line(200, required=True)]
    type: Literal["text", "select", "checkbox"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not FIELD_KEY_PATTERN.fullmatch(value):
            raise _fail("A field key has 1 to 32 characters: a-z, 0-9 and '_'.")
        return value

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: list[str]) -> list[str]:
        options = [option.strip() for option in value]
        if len(options) > MAX_OPTIONS:
            raise _fail(f"A select field has at most {MAX_OPTIONS} options.")
        if any(not option or len(option) > 100 for option in options):
            raise _fail("Each option has 1 to 100 characters.")
        if any(_CONTROL_OR_NEWLINE.search(option) for option in options):
            raise _fail("Options must be one line without control characters.")
        if len(set(options)) != len(options):
            raise _fail("Options must differ from each other.")
        return options

    @model_validator(mode="after")
    def _check_type(self) -> CustomField:
        if self.type == "select" and not self.options:
            raise _fail("A select field needs at least one option.")
        if self.type != "select" and self.options:
            raise _fail("Only select fields have options.")
        return self


def _check_custom_fields(value: list[CustomField]) -> list[CustomField]:
    if len(value) > MAX_CUSTOM_FIELDS:
        raise _fail(f"A page has at most {MAX_CUSTOM_FIELDS} custom fields.")
    keys = [field.key for field in value]
    if len(set(keys)) != len(keys):
        raise _fail("Custom field keys must differ from each other.")
    return value


CustomFields = Annotated[list[CustomField], AfterValidator(_check_custom_fields)]


class PageCreate(BaseModel):
    """A new page. Without a gift it can be saved as a draft; `gift_value` is the link (url), the
    stored file's name from `store_gift_file` (file), the code (code) or the message (text).
    """

    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    headline: Headline = ""
    body: Body = ""
    hero_image_url: ImageUrl = None
    gift_kind: GiftKind | None = None
    gift_value: str = ""
    gift_file_name: str | None = None
    gift_title: GiftTitle = "Your free gift"
    name_field: NameField = "optional"
    custom_fields: CustomFields = Field(default_factory=list)
    consent_text: ConsentText = ""
    double_opt_in: bool = True
    theme: Theme = Theme.CLEAN
    og_title: OgTitle = None
    og_description: OgDescription = None
    og_image_url: ImageUrl = None


class PageUpdate(BaseModel):
    """A change to a page: only the fields that are set are changed."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug | None = None
    title: Title | None = None
    headline: Headline | None = None
    body: Body | None = None
    hero_image_url: ImageUrl = None
    gift_kind: GiftKind | None = None
    gift_value: str | None = None
    gift_file_name: str | None = None
    gift_title: GiftTitle | None = None
    name_field: NameField | None = None
    custom_fields: CustomFields | None = None
    consent_text: ConsentText | None = None
    double_opt_in: bool | None = None
    theme: Theme | None = None
    og_title: OgTitle = None
    og_description: OgDescription = None
    og_image_url: ImageUrl = None


def field_errors(exc: ValidationError) -> ValidationFailed:
    """A pydantic error as the domain's 422, one `FieldError` per bad field, named like the API."""
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        name = ".".join(location) or "page"
        message = error["msg"].removeprefix("Value error, ")
        errors.append(FieldError(name, message))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ValidationFailed(f"Invalid page: {detail}", errors=errors)
